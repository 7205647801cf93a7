"""The `search` predictor: its rule, and that the coarse-to-fine search returns the brute-force sweep's JRD."""
from __future__ import annotations

import random

import cv2
import pytest

from vcm.jrd import create_predictor
from vcm.jrd.search import coarse_to_fine, jrd_from_curve, search_path


def test_search_path_examples():
    assert search_path(61) == [16, 32, 48, 52, 56, 60, 61]
    assert search_path(15) == [4, 8, 12, 13, 14, 15]
    assert search_path(48) == [16, 32, 48]
    assert search_path(50, qmin=40) == [44, 48, 49, 50]
    assert search_path(0) == []


def _curves(rng, qmin):
    qs = range(qmin + 1, 64)
    p = rng.random()
    yield {q: rng.random() < p for q in qs}  # noise
    th = rng.randint(qmin, 63)
    yield {q: q <= th for q in qs}  # monotone
    yield {q: (q <= th) ^ (rng.random() < 0.15) for q in qs}  # monotone with flips


@pytest.mark.parametrize("qmin", [0, 17, 40])
def test_coarse_to_fine_equals_rule_on_any_curve(qmin):
    """Exact for every response curve, monotone or not, asking far fewer QPs than the sweep."""
    rng = random.Random(qmin)
    asked_max = 0
    for _ in range(700):
        for curve in _curves(rng, qmin):
            asked = []
            got = coarse_to_fine(lambda q: asked.append(q) or curve[q], qmin=qmin)
            assert got == jrd_from_curve(curve, qmin=qmin)
            assert len(set(asked)) == len(asked)  # never asks a QP twice
            assert got == qmin or curve[got]  # the object is detected at its JRD
            asked_max = max(asked_max, len(asked))
    assert asked_max <= 9


def test_monotone_curve_gives_highest_detected_qp():
    for th in range(64):
        curve = {q: q <= th for q in range(1, 64)}
        assert coarse_to_fine(curve.__getitem__) == th


@pytest.fixture(scope="module")
def small_bus(bus_jpg):
    from vcm.codec import read_picture
    from vcm.detect import create_detector

    rgb = cv2.resize(read_picture(bus_jpg), (406, 540), interpolation=cv2.INTER_AREA)
    det = create_detector("hog-person")
    dets = det.detect([rgb])[0]
    assert len(dets) >= 2
    return rgb, det, dets


def _fast_and_sweep(rgb, det, dets, **kw):
    fast = create_predictor("search", detector=det, margin=24, verify=False, **kw)
    a = fast.predict(rgb, dets)
    sweep = create_predictor("search:sweep", detector=det, margin=24, verify=False, **kw)
    b = sweep.predict(rgb, dets)
    return a, b, fast.last_stats, sweep.last_stats


def test_search_equals_sweep_on_real_picture_reduced_range(small_bus):
    """Real encoder, real detector: same JRDs as probing every QP of 47..63, with fewer probes."""
    rgb, det, dets = small_bus
    a, b, sa, sb = _fast_and_sweep(rgb, det, dets, qmin=46)
    assert [o.jrd for o in a] == [o.jrd for o in b]
    assert sb["probes"] == 17 and sa["probes"] < sb["probes"]
    for o in a:
        assert 46 <= o.jrd <= 63 and o.source == "search"
        assert o.jrd == 46 or o.info["detected"][str(o.jrd)]


@pytest.mark.slow
def test_search_equals_full_sweep_0_63(small_bus):
    rgb, det, dets = small_bus
    a, b, sa, sb = _fast_and_sweep(rgb, det, dets)
    assert [o.jrd for o in a] == [o.jrd for o in b]
    assert sb["probes"] == 63 and sa["probes"] <= 9 * len(dets)


def test_search_without_objects_costs_nothing(small_bus):
    from vcm.types import Detections

    rgb, det, _ = small_bus
    p = create_predictor("search", detector=det)
    assert p.predict(rgb, Detections(rgb.shape[1], rgb.shape[0])) == []
    assert p.last_stats["encodes"] == 0
