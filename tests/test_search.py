"""The `search` predictor: the label rule of `vcm label`, measured in the objects-mode picture, and the fast
search returning the brute-force sweep's JRD on a real picture (real encoder, real detector)."""
from __future__ import annotations

import cv2
import pytest

from vcm import labeling as L
from vcm.jrd import create_predictor


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


def _check(a, b, sa, sb, qmin, qmax):
    assert [o.jrd for o in a] == [o.jrd for o in b]
    assert [o.info["status"] for o in a] == [o.info["status"] for o in b]
    assert sb["probes"] == qmax - qmin + 1 and sa["probes"] < sb["probes"]
    for o, full in zip(a, b):
        assert qmin <= o.jrd <= qmax and o.source == "search"
        # the rule, restated on the full sweep: the object is detected at its JRD (unless no QP helps), and
        # the first loss lasting the whole window starts just above it (a window cut by the top ignores a
        # detection at the top QP alone)
        d = full.info["detected"]
        if full.info["status"] == L.LABELLED:
            window = list(range(o.jrd + 1, min(qmax, o.jrd + L.WINDOW) + 1))
            if len(window) > 1 and window[-1] == qmax:
                window = window[:-1]
            assert d[str(o.jrd)] and not any(d[str(q)] for q in window)
        assert L.label_from_values(list(range(qmin, qmax + 1)), [d[str(q)] for q in range(qmin, qmax + 1)]).status \
            == o.info["status"]


def test_search_equals_sweep_on_real_picture_reduced_range(small_bus):
    """Same JRDs as probing every QP of 40..63, with fewer probes."""
    rgb, det, dets = small_bus
    a, b, sa, sb = _fast_and_sweep(rgb, det, dets, qmin=40)
    _check(a, b, sa, sb, 40, 63)


@pytest.mark.slow
def test_search_equals_full_sweep_0_63(small_bus):
    rgb, det, dets = small_bus
    a, b, sa, sb = _fast_and_sweep(rgb, det, dets)
    _check(a, b, sa, sb, 0, 63)


def test_search_without_objects_costs_nothing(small_bus):
    from vcm.types import Detections

    rgb, det, _ = small_bus
    p = create_predictor("search", detector=det)
    assert p.predict(rgb, Detections(rgb.shape[1], rgb.shape[0])) == []
    assert p.last_stats["encodes"] == 0


def test_search_rejects_bad_variants():
    from vcm.errors import VcmError

    for spec, kw in (("search:fastest", {}), ("search", {"qmin": 50, "qmax": 40})):
        with pytest.raises(VcmError):
            create_predictor(spec, **kw)


@pytest.fixture(scope="module")
def monument(nanodet_weights):
    """A real photo (GCompris, `vcm weights fetch photos`) with two small cars at the keep score beside weaker
    ones: a kept car scores 0.45-0.49 on the coded picture, under the weaker originals' 0.47."""
    from vcm.detect import create_detector
    from vcm.media import read_picture
    from vcm.photos import catalogue
    from vcm.settings import CodingSettings
    from vcm.types import Detections

    photo = next((p for p in catalogue() if p.id == "gcompris/categorization/monuments/monument3"), None)
    if photo is None:
        pytest.fail("the photo data sets are missing: run `vcm weights fetch photos` (or `make weights`) first")
    rgb = read_picture(photo.path())
    det = create_detector("nanodet")
    rule = CodingSettings().rule_for(det)
    dets = det.detect([rgb])[0]
    keep = Detections(dets.width, dets.height, tuple(d for d in dets if rule.keeps(d)))
    assert len(keep) == 2 and len(dets) > len(keep)
    return rgb, det, rule, dets, keep


def test_weaker_original_boxes_are_not_false_boxes_for_the_search(monument):
    """The search judges as `vcm encode`'s check does: the original's boxes under the keep score are not false
    boxes (before, the weaker cars made the second kept car 'never detected' and it was given up)."""
    rgb, det, rule, dets, keep = monument
    search = create_predictor("search", detector=det, rule=rule, bg_qp=63)
    with_others = search.predict(rgb, keep, others=dets)
    assert all(o.info["status"] == L.LABELLED and o.jrd > 20 for o in with_others)
    alone = search.predict(rgb, keep)  # the keep boxes alone: the weaker cars count as false boxes
    assert any(o.info["status"] == L.DROPPED for o in alone)


def test_an_object_lost_in_its_crop_is_searched_in_the_whole_picture(monument):
    """Without a margin the cars' crops lose them at every QP (no context around the box); the whole picture
    coded as plain VVC keeps them, so they get that JRD (`context: picture`) instead of being given up."""
    rgb, det, rule, dets, keep = monument
    search = create_predictor("search", detector=det, rule=rule, bg_qp=63, margin=0)
    out = search.predict(rgb, keep, others=dets)
    pic = [o for o in out if o.info.get("context") == "picture"]
    assert pic, [o.info["status"] for o in out]
    for o in pic:
        assert o.info["status"] == L.DROPPED and o.info["rule_jrd"] is None  # `vcm label`: dropped (crop rule)
        assert not o.info["never_detected"] and o.jrd == o.info["picture_jrd"] or o.info.get("lowered_by_verify")


def test_the_verification_never_lowers_below_the_lowest_qp_searched(small_bus, nanodet_weights):
    """The plan choice's lowering (objects the written file loses are coded finer) stops at the searched range's
    lowest QP, the plan's floor: `vcm label --qps 50-63` gives no label below 50. On this picture nanodet's
    objects at their JRDs lose one in the objects file, so the lowering runs."""
    from vcm.detect import create_detector
    from vcm.metrics.match import StillDetectedRule
    from vcm.types import Detections

    rgb = small_bus[0]
    det = create_detector("nanodet")
    rule = StillDetectedRule.for_detector(det)
    found = det.detect([rgb])[0]
    keep = Detections(found.width, found.height, tuple(d for d in found if rule.keeps(d)))
    p = create_predictor("search", detector=det, rule=rule, margin=24, qmin=50)
    got = p.predict(rgb, keep, others=tuple(found))
    assert got and all(50 <= o.jrd <= 63 for o in got), [(o.jrd, o.info) for o in got]
    assert p.last_stats["verify_rounds"] >= 1
    assert any(o.info.get("lowered_by_verify") or o.info.get("verified") is False for o in got), \
        "every object kept at its JRD: the lowering did not run"
