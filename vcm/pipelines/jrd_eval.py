"""Evaluate a JRD predictor on a split of a crop dataset (`vcm jrd-eval`).

Any predictor spec works: one with `predict_crops` (dtjrd) gets the crops in batches; any other gets each
crop as a picture with one detection covering it, which is the crop rule applied to the crop itself. The
constant-median baseline uses the training split's median when the dataset has one (an honest baseline
for a held-out split), else the median of the evaluated labels. A dtjrd checkpoint that lost to its own
baseline is scored anyway (the other commands refuse it); its warnings are in `predictor["warnings"]`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vcm.fsutil import write_json_atomic
from vcm.jrd.scoring import JRDScores


@dataclass
class EvalResult:
    scores: JRDScores
    split: str
    names: list[str]
    truth: list[int]
    preds: list[int]
    predictor: dict[str, Any]
    data_fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {"scores": self.scores.to_json(), "split": self.split, "predictor": self.predictor,
                "data_fingerprint": self.data_fingerprint,
                "predictions": {n: p for n, p in zip(self.names, self.preds)}}


def evaluate(data: str | Path, jrd: str, split: str = "test", predictor_options: dict[str, Any] | None = None,
             chunk: int = 256, progress: bool = True, log: Callable[[str], None] = print) -> EvalResult:
    from tqdm import tqdm

    from vcm.jrd.base import create_predictor
    from vcm.jrd.data import data_fingerprint, read_crop, read_dataset, require_crops
    from vcm.jrd.scoring import score
    from vcm.types import Detection, Detections

    ds = read_dataset(data)
    names = ds.names(split)
    if not names:
        from vcm.errors import VcmError

        raise VcmError(f"the {split} split is empty", path=ds.root, fix="pick another --split")
    require_crops(ds, names)
    options = dict(predictor_options or {})
    if jrd.partition(":")[0] == "dtjrd":  # measuring a checkpoint that lost to its baseline is how one finds out
        options.setdefault("force", True)
    predictor = create_predictor(jrd, **options)
    preds: list[int] = []
    bar = tqdm(total=len(names), desc=f"jrd-eval {split}", unit="crop", disable=not progress, dynamic_ncols=True)
    batched = getattr(predictor, "predict_crops", None)
    need = tuple(getattr(predictor, "inputs", ()) or ())
    inputs = dataset_inputs(ds, names, need) if need else None
    for i in range(0, len(names), chunk):
        crops = [read_crop(ds.crop_path(n)) for n in names[i:i + chunk]]
        if batched is not None:
            preds.extend(j for j, _ in (batched(crops, inputs[i:i + chunk]) if need else batched(crops)))
        else:
            for c in crops:
                h, w = c.shape[:2]
                det = Detection((0.0, 0.0, float(w), float(h)), -1, "", 1.0)
                preds.append(int(predictor.predict(c, Detections(w, h, (det,)))[0].jrd))
        bar.update(len(crops))
    bar.close()
    truth = [ds.labels[n] for n in names]
    train = ds.splits.get("train") or []
    median = float(np.median([ds.labels[n] for n in train])) if train and split != "train" else None
    return EvalResult(score(truth, preds, median), split, list(names), truth, preds, predictor.describe(),
                      data_fingerprint(ds, names))


def dataset_inputs(ds, names: list[str], inputs: tuple[str, ...]) -> np.ndarray:
    """The per-object inputs (vcm.jrd.inputs) of the named crops, from the dataset's labels.csv (box, picture size,
    score, class: what `vcm label` writes)."""
    import csv

    from vcm.errors import VcmError
    from vcm.jrd.inputs import object_inputs

    path = ds.root / "labels.csv"
    rows = {}
    if path.is_file():
        rows = {r["name"]: r for r in csv.DictReader(path.open())}
    missing = [n for n in names if n not in rows or not rows[n].get("width")]
    if missing:
        raise VcmError(f"this predictor needs each object's box and picture size; labels.csv lacks {missing[0]!r}",
                       path=path, fix="evaluate on a dataset written by this `vcm label` (labels.csv with width, height)")
    return np.stack([object_inputs(inputs, [float(rows[n][k]) for k in ("x1", "y1", "x2", "y2")], int(rows[n]["width"]),
                                   int(rows[n]["height"]), float(rows[n]["score"]), rows[n]["class"]) for n in names])


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    write_json_atomic(path, obj, indent=1)
