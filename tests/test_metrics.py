"""The still-detected rule, COCO mAP and the Bjontegaard deltas (checked against the `bjontegaard` package)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from vcm.errors import VcmError
from vcm.gt import detections_to_coco
from vcm.metrics import StillDetectedRule, best_match_iou, iou, iou_matrix, still_detected, still_detected_all
from vcm.metrics.bdrate import (BDOverlapWarning, bd_quality, bd_rate, compare, prepare_curve, read_rd_csv,
                                saving_at_equal_quality)
from vcm.metrics.map import evaluate_map, pseudo_map
from vcm.types import Detection, Detections, RDPoint


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


# --- BD-rate ---------------------------------------------------------------------------------------------
ANCHOR = ([1000.0, 1900.0, 3600.0, 7000.0], [0.52, 0.61, 0.68, 0.72])  # rate (bits), mAP


def test_identical_curves_give_zero():
    for m in ("pchip", "akima"):
        assert bd_rate(ANCHOR, ANCHOR, m) == pytest.approx(0.0, abs=1e-12)
        assert bd_quality(ANCHOR, ANCHOR, m) == pytest.approx(0.0, abs=1e-12)


def test_half_rate_gives_minus_50_percent():
    half = ([r / 2 for r in ANCHOR[0]], ANCHOR[1])
    for m in ("pchip", "akima"):
        assert bd_rate(ANCHOR, half, m) == pytest.approx(-50.0, abs=1e-9)
        s = saving_at_equal_quality(ANCHOR, half, m)
        assert s.mean_percent == pytest.approx(50.0, abs=1e-9) and s.n_outside == 0
    points = [RDPoint(r, q) for r, q in zip(*ANCHOR)]
    assert bd_rate(points, half) == pytest.approx(-50.0, abs=1e-9)


def _random_curves(rng):
    n, m = rng.integers(4, 8, 2)
    ra, rt = np.sort(rng.uniform(200, 9000, n)), np.sort(rng.uniform(150, 9000, m))
    qa, qt = np.sort(rng.uniform(0.3, 0.8, n)), np.sort(rng.uniform(0.3, 0.8, m))
    return ra, qa, rt, qt


@pytest.mark.parametrize("method", ["pchip", "akima"])
def test_agrees_with_bjontegaard_package(method):
    import bjontegaard

    rng = np.random.default_rng(7)
    checked = 0
    while checked < 40:
        ra, qa, rt, qt = _random_curves(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = bjontegaard.bd_rate(ra, qa, rt, qt, method=method, require_matching_points=False)
            ref_q = bjontegaard.bd_psnr(ra, qa, rt, qt, method=method, require_matching_points=False)
            if not (np.isfinite(ref) and np.isfinite(ref_q)):
                continue
            assert bd_rate((ra, qa), (rt, qt), method) == pytest.approx(ref, abs=1e-6)
            assert bd_quality((ra, qa), (rt, qt), method) == pytest.approx(ref_q, abs=1e-6)
        checked += 1
    # and on PSNR-like curves with the typical 4 QPs
    ra, qa = [9487.76, 4593.60, 2486.44, 1358.24], [40.28, 37.18, 34.24, 31.42]
    rt, qt = [9787.80, 4469.00, 2451.48, 1290.68], [40.39, 37.21, 34.17, 31.24]
    ref = bjontegaard.bd_rate(ra, qa, rt, qt, method=method)
    assert bd_rate((ra, qa), (rt, qt), method) == pytest.approx(ref, abs=1e-6)


def test_non_monotonic_curve_error_lists_points_and_fit_merges_them():
    bumpy = ([1000.0, 2000.0, 4000.0, 8000.0, 16000.0], [0.50, 0.62, 0.60, 0.70, 0.72])
    with pytest.raises(VcmError, match=r"not monotonic.*rate=2000, quality=0.62\) -> \(rate=4000, quality=0.6\)"):
        bd_rate(bumpy, ANCHOR)
    c = prepare_curve(bumpy, name="anchor", monotone="fit")
    assert list(c.quality) == pytest.approx([0.50, 0.61, 0.70, 0.72])
    assert c.rate[1] == pytest.approx(np.sqrt(2000 * 4000))  # mean log rate of the merged pair
    assert any("merged" in n for n in c.notes)
    v = bd_rate(bumpy, ANCHOR, monotone="fit")
    assert np.isfinite(v)


def test_overlap_and_point_checks():
    with pytest.warns(BDOverlapWarning):
        bd_rate(ANCHOR, ([900, 1800, 3500, 7200], [0.66, 0.70, 0.74, 0.78]))
    with pytest.raises(VcmError, match="do not overlap"):
        bd_rate(ANCHOR, ([900, 1800, 3500, 7200], [0.80, 0.82, 0.84, 0.86]))
    with pytest.raises(VcmError, match="at least 4"):
        bd_rate(ANCHOR, ([1000, 2000, 4000], [0.5, 0.6, 0.7]))
    with pytest.raises(VcmError, match="same rate"):
        bd_rate(ANCHOR, ([1000, 1000, 4000, 8000], [0.5, 0.6, 0.7, 0.75]))
    with pytest.raises(VcmError, match="rate <= 0"):
        bd_rate(ANCHOR, ([0, 1000, 4000, 8000], [0.5, 0.6, 0.7, 0.75]))
    with pytest.raises(VcmError, match="unknown interpolation"):
        bd_rate(ANCHOR, ANCHOR, "cubic")


def test_saving_at_equal_quality_single_point_and_outside():
    s = saving_at_equal_quality(ANCHOR, ([1900.0 * 0.7], [0.61]))
    assert s.mean_percent == pytest.approx(30.0) and len(s.points) == 1
    out = saving_at_equal_quality(ANCHOR, ([500.0], [0.9]))
    assert math.isnan(out.mean_percent) and out.n_outside == 1
    rep = compare(ANCHOR, ([1900.0 * 0.7], [0.61]))
    assert "bd_rate" in rep.errors and rep.saving.mean_percent == pytest.approx(30.0)


def _csv(path, text):
    path.write_text(text)
    return str(path)


def test_read_rd_csv_and_errors(tmp_path):
    pts = read_rd_csv(_csv(tmp_path / "a.csv", "qp,rate,quality\n22,1000,0.5\n27,2000,0.6\n"))
    assert [(p.rate, p.quality) for p in pts] == [(1000.0, 0.5), (2000.0, 0.6)] and pts[0].settings == {"qp": "22"}
    cases = {"nohdr.csv": ("1000,0.5\n", "header"), "word.csv": ("rate,quality\n1000,abc\n", "line 2"),
             "neg.csv": ("rate,quality\n-5,0.5\n", "must be > 0"), "empty.csv": ("", "empty"),
             "ragged.csv": ("rate,quality\n1000\n", "fields")}
    for name, (text, msg) in cases.items():
        with pytest.raises(VcmError, match=msg) as e:
            read_rd_csv(_csv(tmp_path / name, text))
        assert name in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(VcmError, match="no such file"):
        read_rd_csv(tmp_path / "missing.csv")


def test_bdrate_cli(tmp_path):
    from vcm.cli import main

    a = _csv(tmp_path / "anchor.csv", "rate,quality\n" + "".join(f"{r},{q}\n" for r, q in zip(*ANCHOR)))
    t = _csv(tmp_path / "test.csv", "rate,quality\n" + "".join(f"{r / 2},{q}\n" for r, q in zip(*ANCHOR)))
    r = CliRunner().invoke(main, ["bdrate", a, t])
    assert r.exit_code == 0, r.output
    assert "BD-rate (pchip): -50.000%" in r.output
    assert "Bit saving at equal accuracy: 50.000%" in r.output
    r = CliRunner().invoke(main, ["bdrate", a, t, "--method", "akima", "--json"])
    import json

    assert json.loads(r.output)["bd_rate_percent"] == pytest.approx(-50.0)
    bad = _csv(tmp_path / "bad.csv", "rate,psnr\n1,2\n")
    r = CliRunner().invoke(main, ["bdrate", a, bad])
    assert r.exit_code == 2 and "bad.csv" in r.output and "rate,quality" in r.output
