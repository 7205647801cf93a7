"""COCO mAP (mAP@0.5 and mAP@0.5:0.95, overall and per class) with pycocotools, the reference implementation.

Ground truth is a COCO instances dict (`vcm.gt`); predictions are COCO results, or Detections per picture
matched to the ground truth's pictures by file name or by order. Pseudo ground truth (`pseudo_map`): the
detections on the original picture are the truth and the detections on the coded picture are scored
against them; a picture against itself scores exactly 1.0.

Conventions: COCO's 101-point interpolated AP, 10 IoU thresholds 0.50:0.05:0.95, area "all", at most
`max_dets` (100) boxes per picture. A class with no ground-truth box has no AP (COCO skips it); with no
ground truth at all, mAP is NaN (undefined), and a class with ground truth but no prediction has AP 0.
"""
from __future__ import annotations

import contextlib
import copy
import io
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.gt import (box_problem, detections_to_coco, detections_to_results, image_ids_by_name, score_problem,
                    validate_coco)
from vcm.types import Detections


@dataclass(frozen=True)
class ClassAP:
    name: str
    category_id: int
    ap50: float
    ap50_95: float
    n_gt: int
    n_pred: int


@dataclass(frozen=True)
class MapResult:
    map50: float
    map50_95: float
    per_class: dict[str, ClassAP] = field(default_factory=dict)
    n_images: int = 0
    n_gt: int = 0
    n_pred: int = 0
    max_dets: int = 100

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("map50", "map50_95"):
            d[k] = None if math.isnan(d[k]) else d[k]
        for c in d["per_class"].values():
            for k in ("ap50", "ap50_95"):
                c[k] = None if math.isnan(c[k]) else c[k]
        return d


# list[dict] (COCO results) | Mapping[int, Detections] | Sequence[(name, Detections)] | Sequence[Detections]
Predictions = Any


def _nan_if_neg(x: float) -> float:
    # pycocotools divides by tp + fp + eps, so a perfect score comes out as 1 - 1e-16: round that away
    return float("nan") if x < 0 else round(float(x), 12)


def _mean_valid(a: np.ndarray) -> float:
    v = a[a > -1]
    return round(float(v.mean()), 12) if v.size else float("nan")


def align_predictions(gt: Mapping[str, Any], pred: Predictions, match: str = "name",
                      pred_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Predictions in any accepted form -> COCO results on the ground truth's image ids. A tuple of
    (name, Detections) is a detections file's pictures (an empty one covers no picture); a list of dicts is
    COCO results. `pred_path` names the predictions file in errors."""
    if match not in ("name", "order"):
        raise ValueError(f"match must be 'name' or 'order', got {match!r}")
    images = gt["images"]
    if isinstance(pred, Mapping):
        return detections_to_results(gt, {int(k): v for k, v in pred.items()})
    from_file = isinstance(pred, tuple)
    pred = list(pred)
    if not from_file and (not pred or isinstance(pred[0], dict)):  # COCO results
        from vcm.gt import check_result_scheme

        gt_ids = {im["id"] for im in images}
        cat_ids = {c.get("id") for c in gt.get("categories", []) if isinstance(c, dict)}
        for i, r in enumerate(pred):
            if not isinstance(r, dict) or not {"image_id", "category_id", "bbox", "score"} <= r.keys():
                raise VcmError(f"result {i} needs image_id, category_id, bbox and score", path=pred_path,
                               fix="give COCO results or a vcm detections file")
            if r["image_id"] not in gt_ids:
                raise VcmError(f"result {i} refers to image_id {r['image_id']}, which the ground truth lacks",
                               path=pred_path, fix="score predictions against the ground truth of the same pictures")
        check_result_scheme(pred, gt, pred_path)
        for i, r in enumerate(pred):  # after the scheme check: its message says more about 0-based ids
            if r["category_id"] not in cat_ids:
                raise VcmError(f"result {i} (image_id {r['image_id']}) has category_id {r['category_id']}, which "
                               f"is not a category of the ground truth", path=pred_path, fix="give COCO results in "
                               "the ground truth's category ids (its 'categories' list)")
        return pred
    if pred and isinstance(pred[0], Detections):
        pred = [(str(i), d) for i, d in enumerate(pred)]
        match = "order"
    if match == "order":
        if len(pred) != len(images):
            raise VcmError(f"{len(pred)} predicted pictures but {len(images)} ground-truth pictures", path=pred_path,
                           fix="give one prediction entry per ground-truth picture, in the same order")
        return detections_to_results(gt, {im["id"]: d for im, (_, d) in zip(images, pred)})
    ids = image_ids_by_name(gt)
    per: dict[int, Detections] = {}
    missing = []
    for name, d in pred:
        iid = ids.get(name, ids.get(Path(name).name))
        if iid is None:
            missing.append(name)
        else:
            per[iid] = d
    if missing:
        raise VcmError(f"{len(missing)} predicted picture(s) not in the ground truth (first: {missing[0]})",
                       path=pred_path, fix="use the same file names, or --match order to pair pictures by position")
    lacking = [im.get("file_name", im["id"]) for im in images if im["id"] not in per]
    if lacking:
        raise VcmError(f"no predictions for {len(lacking)} ground-truth picture(s) (first: {lacking[0]})",
                       path=pred_path, fix="detect on every picture of the ground truth, or --match order")
    return detections_to_results(gt, per)


def evaluate_map(gt: Mapping[str, Any], pred: Predictions, *, match: str = "name", max_dets: int = 100,
                 pred_path: str | Path | None = None) -> MapResult:
    """mAP@0.5 and mAP@0.5:0.95 of `pred` against the COCO ground truth `gt`, overall and per class."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = validate_coco(copy.deepcopy(dict(gt)))
    results = align_predictions(gt, pred, match, pred_path)
    cats = {c["id"]: str(c.get("name", c["id"])) for c in gt["categories"]}
    n_gt_cat = {k: 0 for k in cats}
    for a in gt["annotations"]:
        if not a.get("iscrowd", 0):
            n_gt_cat[a["category_id"]] += 1
    n_pred_cat = {k: 0 for k in cats}
    for r in results:
        n_pred_cat[r["category_id"]] = n_pred_cat.get(r["category_id"], 0) + 1
    n_gt = sum(n_gt_cat.values())
    common = dict(n_images=len(gt["images"]), n_gt=n_gt, n_pred=len(results), max_dets=max_dets)
    if n_gt == 0:
        per = {cats[k]: ClassAP(cats[k], k, float("nan"), float("nan"), 0, n_pred_cat[k]) for k in cats}
        return MapResult(float("nan"), float("nan"), per, **common)
    if not results:
        per = {cats[k]: ClassAP(cats[k], k, 0.0 if n_gt_cat[k] else float("nan"),
                                0.0 if n_gt_cat[k] else float("nan"), n_gt_cat[k], 0) for k in cats}
        return MapResult(0.0, 0.0, per, **common)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.maxDets = [1, 10, int(max_dets)]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"]  # [T, R, K, A, M]
    per = {}
    for ki, cid in enumerate(ev.params.catIds):
        p = prec[:, :, ki, 0, -1]
        per[cats[cid]] = ClassAP(cats[cid], int(cid), _mean_valid(p[0]), _mean_valid(p), n_gt_cat.get(cid, 0),
                                 n_pred_cat.get(cid, 0))
    return MapResult(_nan_if_neg(ev.stats[1]), _nan_if_neg(ev.stats[0]), per, **common)


def pseudo_map(originals: Sequence[Detections], coded: Sequence[Detections], *,
               categories: Mapping[int, str] | None = None, max_dets: int = 100,
               dont_care: Sequence[Detections] | None = None) -> MapResult:
    """mAP of the detections on coded pictures against those on the originals (pseudo ground truth);
    `dont_care` (per picture) become iscrowd boxes: a detection there is neither a hit nor a false alarm."""
    if len(originals) != len(coded):
        raise ValueError(f"{len(originals)} originals but {len(coded)} coded pictures")
    dc = {str(i): d for i, d in enumerate(dont_care)} if dont_care is not None else None
    gt = detections_to_coco(((str(i), d) for i, d in enumerate(originals)), categories=categories, dont_care=dc)
    return evaluate_map(gt, list(coded), match="order", max_dets=max_dets)


def load_ground_truth(path: str | Path) -> dict[str, Any]:
    """A COCO instances file, or a `vcm detect --json` file taken as pseudo ground truth."""
    from vcm.detect.io import parse_detections_document, read_json_file

    doc = read_json_file(path)
    if isinstance(doc, dict) and isinstance(doc.get("images"), list) and doc["images"] \
            and isinstance(doc["images"][0], dict) and "detections" in doc["images"][0]:
        entries = parse_detections_document(doc, path)
        return detections_to_coco(entries, info={"description": "vcm pseudo ground truth",
                                                 "source": str(path), "detector": doc.get("detector")})
    return validate_coco(doc, path)


def load_predictions(path: str | Path) -> Predictions:
    """A `vcm detect --json` file (a tuple of (file, Detections), one per picture it covers) or COCO results
    (a list of dicts)."""
    from vcm.detect.io import parse_detections_document, read_json_file

    doc = read_json_file(path)
    if isinstance(doc, list):
        return _check_results(doc, path)
    return tuple(parse_detections_document(doc, path))


def _check_results(results: list, path: str | Path) -> list:
    """COCO results: every item a dict with image_id, category_id, a finite [x, y, w, h] bbox and a finite score."""
    def num(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    for i, r in enumerate(results):
        ok = (isinstance(r, dict) and "image_id" in r and "category_id" in r and isinstance(r.get("bbox"), list)
              and len(r["bbox"]) == 4 and all(num(v) for v in r["bbox"]) and num(r.get("score", 1.0)))
        if not ok:
            raise VcmError(f"result {i} is not {{image_id, category_id, bbox: [x, y, w, h], score}} with finite "
                           f"numbers: {str(r)[:80]}", path=path, fix="give COCO results or a `vcm detect --json` file")
        why = box_problem(*(float(v) for v in r["bbox"])) or score_problem(float(r.get("score", 1.0)))
        if why:
            raise VcmError(f"result {i} (image_id {r['image_id']}): {why}", path=path,
                           fix="bbox is [x, y, width, height] in pixels, score a confidence 0..1")
    return results
