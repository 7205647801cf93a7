"""The QP policy (vcm/qp.py): object QP clamp, crop rectangles the codec can code, lowest QP wins."""
from __future__ import annotations

import random

import numpy as np
import pytest

from vcm import qp
from vcm.errors import VcmError
from vcm.types import Detection, ObjectJRD


def obj(box, jrd, label="person"):
    return ObjectJRD(Detection(tuple(float(v) for v in box), 0, label, 0.9), jrd, "fixed")


@pytest.mark.parametrize("jrd,offset,qp_min,want", [(40, 0, 0, 40), (40, 5, 0, 45), (60, 10, 0, 63),
                                                    (3, -10, 0, 0), (30, 0, 35, 35), (63, 0, 0, 63)])
def test_object_qp_clamps(jrd, offset, qp_min, want):
    assert qp.object_qp(jrd, offset, qp_min) == want


def test_crop_rect_grows_by_margin_and_snaps_even():
    x, y, w, h = qp.crop_rect((101.3, 51.7, 150.2, 120.9), 640, 480, margin=10, align=2)
    assert (x, y, w, h) == (90, 40, 72, 92)  # floor(91.3)->90, floor(41.7)->40, ceil(160.2)->162, ceil(130.9)->132


def test_crop_rect_properties_random():
    rng = random.Random(4)
    for _ in range(3000):
        W, H = rng.randint(16, 700), rng.randint(16, 700)
        x1, y1 = rng.uniform(-20, W + 5), rng.uniform(-20, H + 5)
        box = (x1, y1, x1 + rng.uniform(0, 300), y1 + rng.uniform(0, 300))
        margin, align = rng.choice([0, 3, 16, 48]), rng.choice([2, 4, 8])
        x, y, w, h = qp.crop_rect(box, W, H, margin, align)
        cw, ch = qp.coded_size(W, H)
        assert x % 2 == 0 and y % 2 == 0 and w % 2 == 0 and h % 2 == 0
        assert 0 <= x and 0 <= y and x + w <= cw and y + h <= ch
        assert w >= min(16, cw) and h >= min(16, ch)
        # the box and its margin are covered wherever they lie inside the picture
        bx1, by1 = max(0, box[0] - margin), max(0, box[1] - margin)
        bx2, by2 = min(cw, box[2] + margin), min(ch, box[3] + margin)
        if bx1 < bx2 and by1 < by2:
            assert x <= bx1 and y <= by1 and x + w >= bx2 and y + h >= by2


def test_border_and_odd_sizes():
    # box touching the right/bottom border of a 333x517 picture: rect ends at the even-padded size
    x, y, w, h = qp.crop_rect((300, 480, 333, 517), 333, 517, margin=8)
    assert (x + w, y + h) == (334, 518)
    # a box at the top-left corner starts at 0
    assert qp.crop_rect((0, 0, 5, 5), 333, 517, margin=8)[:2] == (0, 0)
    # a tiny box gets the encoder's minimum size
    assert qp.crop_rect((100, 100, 101, 101), 333, 517, margin=0)[2:] == (16, 16)


def test_plan_overlap_lowest_qp_wins():
    objs = [obj((10, 10, 100, 100), 50), obj((60, 60, 150, 150), 30), obj((200, 10, 230, 40), 45)]
    p = qp.plan(objs, 256, 200, offset=2, bg_qp=55, margin=0)
    assert [r.qp for r in p.regions] == [52, 32, 47]
    assert p.min_qp == 32
    m = p.qp_map()
    assert m.shape == (200, 256)
    assert m[80, 80] == 32  # in both boxes: the lower QP
    assert m[20, 20] == 52 and m[20, 210] == 47 and m[190, 250] == 55
    assert [r.qp for r in p.drawing_order()][-1] == 32  # drawn last = on top


def test_touching_objects_with_close_qps_share_a_stream():
    """`object_streams`: overlapping or edge-sharing regions within MERGE_QP_TOLERANCE merge into their bounding
    box at the lower QP when the box is estimated (area, halved every 6 QPs) not to cost more; others stay."""
    objs = [obj((0, 0, 100, 100), 40), obj((50, 0, 150, 100), 42), obj((150, 0, 200, 100), 42),  # a row
            obj((0, 300, 60, 360), 40),  # far from the others
            obj((300, 0, 400, 100), 30), obj((330, 30, 370, 70), 40),  # one inside the other, 10 QPs apart
            obj((0, 150, 400, 290), 45), obj((180, 200, 220, 240), 42)]  # a small finer one inside a large one
    p = qp.plan(objs, 640, 480, bg_qp=63, margin=0)

    def streams(t):
        return {members: (r.rect, r.qp, r.index) for r, members in p.object_streams(t)}

    # 0 and 1 overlap: their box at QP 40 costs less than the two; 2 joined at 40 would cost more than at 42
    assert streams(3) == {(0, 1): ((0, 0, 150, 100), 40, 0), (2,): ((150, 0, 50, 100), 42, 2),
                          **{(k,): (p.regions[k].rect, p.regions[k].qp, k) for k in (3, 4, 5, 6, 7)}}
    # the large region at 45 moved down to 42 costs more than the small one on top of it
    assert qp.stream_cost((0, 150, 400, 140), 42) > qp.stream_cost((0, 150, 400, 140), 45) \
        + qp.stream_cost((180, 200, 40, 40), 42)
    # equal QPs: 1 and 2 share an edge, their box is exactly their area
    assert streams(0)[(1, 2)] == ((50, 0, 150, 100), 42, 1) and (0,) in streams(0)
    assert set(streams(-1)) == {(k,) for k in range(8)}  # -1: nothing merges
    assert all(r.qp < 41 for r, _ in qp.plan(objs, 640, 480, bg_qp=41, margin=0).object_streams())  # no stream at bg


def test_plan_without_objects_and_bad_values():
    p = qp.plan([], 64, 48, bg_qp=45)
    assert p.regions == () and p.min_qp == 45 and (p.qp_map() == 45).all()
    with pytest.raises(VcmError, match="background QP"):
        qp.plan([], 64, 48, bg_qp=70)
    with pytest.raises(VcmError, match="margin"):
        qp.plan([], 64, 48, margin=-1)
    d = qp.plan([obj((1, 2, 30, 40), 20)], 64, 48).to_json()
    assert d["regions"][0]["rect"] == list(qp.crop_rect((1, 2, 30, 40), 64, 48))
    assert np.isfinite(d["bg_qp"])


def test_floor_gives_up_objects_hopeless_at_it():
    """Under a QP floor an object whose JRD lies more than GIVE_UP_MARGIN below it is not protected (coded at the
    floor it would be lost anyway); the others are coded at max(JRD + offset, floor); floor 64 protects none."""
    from vcm.settings import GIVE_UP, GIVE_UP_MARGIN

    objs = [obj((10, 10, 60, 90), 30), obj((200, 10, 260, 90), 44), obj((400, 10, 460, 90), 55)]
    p = qp.plan(objs, 640, 480, qp_min=44)
    assert [(r.index, r.qp) for r in p.regions] == [(1, 44), (2, 55)] and p.given_up == 1
    edge = qp.plan(objs, 640, 480, qp_min=30 + GIVE_UP_MARGIN)  # exactly the margin above: still protected
    assert [r.index for r in edge.regions] == [0, 1, 2] and edge.given_up == 0
    assert qp.plan(objs, 640, 480).given_up == 0 and len(qp.plan(objs, 640, 480, offset=12).regions) == 3
    none = qp.plan(objs, 640, 480, qp_min=GIVE_UP)
    assert none.regions == () and none.given_up == 3 and none.min_qp == none.bg_qp
    # video (objects mode erases what it does not protect): hopeless objects are coded at the floor instead
    video = qp.plan(objs, 640, 480, qp_min=44, give_up=False)
    assert [(r.index, r.qp) for r in video.regions] == [(0, 44), (1, 44), (2, 55)] and video.given_up == 0
    assert qp.plan(objs, 640, 480, qp_min=GIVE_UP, give_up=False).regions == ()
