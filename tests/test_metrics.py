"""The still-detected rule and COCO mAP (the Bjontegaard deltas: tests/test_bdrate.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vcm.errors import VcmError
from vcm.gt import detections_to_coco
from vcm.metrics import StillDetectedRule, best_match_iou, iou, iou_matrix, still_detected, still_detected_all
from vcm.metrics.map import evaluate_map, pseudo_map
from vcm.types import Detection, Detections


def det(box, cls=0, label="person", score=0.9):
    return Detection(tuple(float(v) for v in box), cls, label, score)


# --- IoU and the still-detected rule --------------------------------------------------------------------
def test_iou_values():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 0, 10], [0, 0, 0, 10]) == 0.0  # empty boxes never match
    M = iou_matrix([det([0, 0, 10, 10]), det([5, 0, 15, 10])], [det([0, 0, 10, 10])])
    assert M.shape == (2, 1) and M[0, 0] == 1.0 and M[1, 0] == pytest.approx(1 / 3)


def test_still_detected_rule():
    orig = det([100, 100, 200, 300], score=0.8)
    moved = det([110, 100, 210, 300], score=0.6)  # IoU 90/110 = 0.818
    far = det([150, 100, 250, 300])  # IoU 50/150 = 0.333
    car = det([100, 100, 200, 300], cls=2, label="car")
    assert still_detected(orig, [moved])
    assert not still_detected(orig, [far])
    assert not still_detected(orig, [car])
    assert not still_detected(orig, [])
    assert still_detected(orig, [far], StillDetectedRule(iou=0.3))
    assert not still_detected(orig, [moved], StillDetectedRule(min_score=0.7))
    # across detectors with other class ids, match by name
    other_ids = det([100, 100, 200, 300], cls=1, label="person")
    assert not still_detected(orig, [other_ids])
    assert still_detected(orig, [other_ids], StillDetectedRule(match_by="label"))
    assert best_match_iou(orig, [moved, far, car]) == pytest.approx(90 / 110)
    with pytest.raises(ValueError):
        StillDetectedRule(iou=0)


def test_still_detected_all_matches_single_calls():
    rng = np.random.default_rng(3)
    origs = [det([x, y, x + w, y + h], cls=int(c)) for x, y, w, h, c in
             zip(rng.uniform(0, 500, 30), rng.uniform(0, 500, 30), rng.uniform(10, 80, 30), rng.uniform(10, 80, 30),
                 rng.integers(0, 2, 30))]
    cands = Detections(600, 600, tuple(det(np.array(o.box) + rng.normal(0, 8, 4), cls=o.class_id,
                                           score=float(rng.uniform(0.2, 1))) for o in origs[::2]))
    rule = StillDetectedRule(iou=0.5, min_score=0.4)
    flags = still_detected_all(origs, cands, rule)
    assert flags == [still_detected(o, cands, rule) for o in origs]
    assert 0 < sum(flags) < len(origs)  # the data exercise both outcomes


def test_rule_for_detector_uses_its_threshold():
    from vcm.detect import create_detector

    rule = StillDetectedRule.for_detector(create_detector("hog-person", conf=0.6), iou=0.6)
    assert rule.min_score == pytest.approx(0.6) and rule.iou == 0.6


# --- mAP -------------------------------------------------------------------------------------------------
def _gt_two_people():
    d = Detections(400, 300, (det([10, 10, 110, 210]), det([200, 50, 300, 250])))
    return d, detections_to_coco([("a.png", d)])


def test_map_self_is_one_and_missing_box_halves_recall():
    d, gt = _gt_two_people()
    r = evaluate_map(gt, [("a.png", d)])
    assert r.map50 == 1.0 and r.map50_95 == 1.0 and r.per_class["person"].ap50 == 1.0
    half = evaluate_map(gt, [("a.png", Detections(400, 300, d.items[:1]))])
    # COCO 101-point AP: precision 1 up to recall 0.5 (51 of 101 recall points), 0 after
    assert half.map50 == pytest.approx(51 / 101)
    none = evaluate_map(gt, [("a.png", Detections(400, 300, ()))])
    assert none.map50 == 0.0 and none.n_pred == 0


def test_map_box_shift_lowers_strict_iou_only():
    d, gt = _gt_two_people()
    shifted = Detections(400, 300, tuple(det(np.array(x.box) + [15, 0, 15, 0]) for x in d))  # IoU 85/115 = 0.74
    r = evaluate_map(gt, [("a.png", shifted)])
    assert r.map50 == 1.0
    assert r.map50_95 == pytest.approx(0.5)  # found at IoU 0.50..0.70 (5 of 10 thresholds)


def test_map_categories_matched_by_name():
    d, _ = _gt_two_people()
    gt = detections_to_coco([("a.png", d)])
    for c in gt["categories"]:
        c["id"] = 1  # COCO's own id for person
    for a in gt["annotations"]:
        a["category_id"] = 1
    assert evaluate_map(gt, [("a.png", d)]).map50 == 1.0


def test_map_pairing_and_undefined_cases():
    d, gt = _gt_two_people()
    with pytest.raises(VcmError, match="not in the ground truth.*--match order"):
        evaluate_map(gt, [("coded.png", d)])
    assert evaluate_map(gt, [("coded.png", d)], match="order").map50 == 1.0
    assert evaluate_map(gt, {1: d}).map50 == 1.0
    empty = detections_to_coco([("e.png", Detections(10, 10, ()))])
    r = pseudo_map([Detections(10, 10, ())], [Detections(10, 10, ())])
    assert math.isnan(r.map50) and r.to_json()["map50"] is None
    assert math.isnan(evaluate_map(empty, [("e.png", Detections(10, 10, ()))]).map50)


# BD-rate, BD-quality and `vcm bdrate`: tests/test_bdrate.py
