"""JRD prediction metrics, and reading predictions in the authors' per-image JSON format.

The authors report MAE over all test objects and over labels in [27, 51]; a prediction is only useful if
it beats predicting one constant QP for everything, so the constant-median baseline is printed beside it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vcm.fsutil import write_json_atomic
from vcm.errors import VcmError

MID_RANGE = (27, 51)


@dataclass(frozen=True)
class JRDScores:
    """Metrics of predicted vs true JRD (QP classes); errors are prediction - truth."""

    n: int
    mae: float
    mae_27_51: float  # MAE on objects whose true JRD is in [27, 51] (as the authors)
    n_27_51: int
    mean_signed_error: float  # > 0: predictions too coarse (risky), < 0: too fine (wasted bits)
    acc_exact: float
    acc_within_3: float
    acc_within_5: float
    baseline_median: float  # the constant the baseline predicts
    baseline_mae: float  # MAE of predicting baseline_median for every object

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable report; the first line is `MAE: <value>` with 3 decimals."""
        return [
            f"MAE: {self.mae:.3f}",
            (f"MAE on labels in [27, 51]: {self.mae_27_51:.3f} ({self.n_27_51} objects)" if self.n_27_51
             else "MAE on labels in [27, 51]: undefined (no such labels)"),
            f"mean signed error (pred - true): {self.mean_signed_error:+.3f}",
            f"exact accuracy: {100 * self.acc_exact:.2f} %",
            f"accuracy within +-3: {100 * self.acc_within_3:.2f} %",
            f"accuracy within +-5: {100 * self.acc_within_5:.2f} %",
            f"constant-median baseline (predict {self.baseline_median:g}): MAE {self.baseline_mae:.3f}",
            f"objects: {self.n}",
        ]


def score(true: Sequence[float], pred: Sequence[float], baseline_median: float | None = None) -> JRDScores:
    """Score predictions against labels. `baseline_median` defaults to the median of `true`; pass the
    training split's median for an honest baseline on a held-out split."""
    t = np.asarray(true, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"true and pred must be 1-D and equal length, got {t.shape} and {p.shape}")
    if t.size == 0:
        raise VcmError("nothing to score: no objects", fix="check the split and the prediction file")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise VcmError("a JRD value is NaN or infinite", fix="give every object a JRD (a QP 0..63)")
    err = p - t
    ae = np.abs(err)
    mid = (t >= MID_RANGE[0]) & (t <= MID_RANGE[1])
    med = float(np.median(t)) if baseline_median is None else float(baseline_median)
    return JRDScores(
        n=int(t.size),
        mae=float(ae.mean()),
        mae_27_51=float(ae[mid].mean()) if mid.any() else float("nan"),
        n_27_51=int(mid.sum()),
        mean_signed_error=float(err.mean()),
        acc_exact=float((ae < 0.5).mean()),
        acc_within_3=float((ae <= 3).mean()),
        acc_within_5=float((ae <= 5).mean()),
        baseline_median=med,
        baseline_mae=float(np.abs(t - med).mean()),
    )


# --- the authors' per-image format: {"<id>.png": {"objects": [...], "bboxs": [...], "OWJRD" | "PreOWJRD": [...]}}

JRD_KEYS = ("OWJRD", "PreOWJRD")


def read_per_image(path: str | Path) -> dict[str, float]:
    """{object name: jrd} from a per-image JSON file (ground truth "OWJRD" or predictions "PreOWJRD")."""
    from vcm.fsutil import read_json_checked

    path = Path(path)
    d = read_json_checked(path, fix="pass a per-image JRD JSON file")
    if not isinstance(d, dict):
        raise VcmError('expected {"<id>.png": {"objects": [...], "OWJRD": [...]}}', path=path,
                       fix="pass a file in the authors' per-image format")
    out: dict[str, float] = {}
    for image, entry in d.items():
        if not isinstance(entry, dict) or "objects" not in entry:
            raise VcmError(f'entry {image!r} has no "objects" list', path=path,
                           fix="each image needs objects and OWJRD or PreOWJRD")
        key = next((k for k in JRD_KEYS if k in entry), None)
        if key is None:
            raise VcmError(f'entry {image!r} has neither "OWJRD" nor "PreOWJRD"', path=path,
                           fix="add the JRD list of each image")
        objects, values = entry["objects"], entry[key]
        if len(objects) != len(values):
            raise VcmError(f"entry {image!r}: {len(objects)} objects but {len(values)} JRD values", path=path,
                           fix="give one JRD per object")
        for name, v in zip(objects, values):
            try:
                out[str(name)] = float(v)
                if not math.isfinite(out[str(name)]) or isinstance(v, bool):
                    raise ValueError(v)
            except (TypeError, ValueError):
                raise VcmError(f"entry {image!r}: JRD of {name!r} is not a number: {v!r}", path=path,
                               fix="JRD values are QP classes 0..63") from None
            if not (0 <= out[str(name)] <= 63 and out[str(name)].is_integer()):
                raise VcmError(f"entry {image!r}: JRD of {name!r} is {v!r}, not a whole QP 0..63", path=path,
                               fix="JRD values are QP classes: whole numbers 0..63")
    return out


def score_files(gt_path: str | Path, pred_path: str | Path, baseline_median: float | None = None) -> JRDScores:
    """Score a per-image prediction file against a per-image ground-truth file, matching objects by name."""
    gt, pred = read_per_image(gt_path), read_per_image(pred_path)
    missing = [n for n in gt if n not in pred]
    if missing:
        raise VcmError(f"{len(missing)} ground-truth objects have no prediction (first: {missing[:3]})",
                       path=pred_path, fix="predict every object of the ground-truth file")
    names = list(gt)
    return score([gt[n] for n in names], [pred[n] for n in names], baseline_median)


def write_per_image(path: str | Path, preds: dict[str, float], boxes: dict[str, list[float]] | None = None,
                    key: str = "PreOWJRD", pictures: dict[str, str] | None = None) -> None:
    """Write {name: jrd} grouped per image, atomically. The image key is `pictures[name]` when known, else
    "<image>.png" from the name `<image>_<k>` (as the authors)."""
    out: dict[str, dict[str, list]] = {}
    for name in sorted(preds, key=_name_order):
        image, _, _ = name.rpartition("_")
        image_key = (pictures or {}).get(name) or f"{image or name}.png"
        entry = out.setdefault(image_key, {"objects": [], "bboxs": [], key: []})
        entry["objects"].append(name)
        entry["bboxs"].append(list(boxes[name]) if boxes and name in boxes else [])
        v = preds[name]
        entry[key].append(int(v) if float(v).is_integer() else float(v))
    write_json_atomic(path, out, indent=1)


def _name_order(name: str):
    image, _, k = name.rpartition("_")
    return (image, int(k)) if k.isdigit() else (name, 0)
