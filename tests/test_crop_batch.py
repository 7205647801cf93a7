"""Crop streams coded together (`vcm.codec.encode_crops`, ffmpeg: one process for all crops of a frame): the
streams are byte-identical to coding each crop alone, the encode cache is shared with `encode` under the same
keys, and a crop libvvenc refuses fails exactly as its single encode does, after the others are coded and cached.

All with the real ffmpeg/libvvenc on real pictures (ultralytics' bus.jpg and zidane.jpg).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcm.codec import EncodeParams, create_encoder, encode, encode_crops, picture_to_clip
from vcm.codec.base import CropJob, Encoder, crop_clip
from vcm.codec.cache import EncodeCache
from vcm.errors import VcmError
from vcm.media import read_picture
from vcm.qp import crop_rect

# A crop libvvenc refuses at QP 0 (exit 187: near-lossless on a small detailed crop of bus.jpg), measured.
REFUSED = ((200, 800, 16, 16), 0)


@pytest.fixture(scope="module")
def bus_frame(bus_jpg):
    return picture_to_clip(read_picture(bus_jpg)).frames[0]  # 810x1080


def _rects(frame, boxes):
    return [crop_rect(b, *frame.display_size) for b in boxes]


def _single(frame, rect, params):
    return encode(crop_clip(frame, rect), params, cache=False)


def _runs(results) -> set[tuple[str, ...]]:
    """The distinct ffmpeg command lines behind the results (one per process)."""
    return {tuple(r.command) for r in results}


def _same_stream(a, b):
    assert Path(a.bitstream).read_bytes() == Path(b.bitstream).read_bytes()
    assert (a.bytes, a.width, a.height, a.qp, a.slice_qps, a.bits_per_frame) == \
           (b.bytes, b.width, b.height, b.qp, b.slice_qps, b.bits_per_frame)
    assert (a.psnr_y, a.psnr_u, a.psnr_v) == (b.psnr_y, b.psnr_u, b.psnr_v)
    assert json.dumps(a.params, sort_keys=True) == json.dumps(b.params, sort_keys=True)  # the cache stores JSON
    assert a.backend_version == b.backend_version


def test_one_run_is_byte_identical_to_single_encodes(bus_frame):
    """Crops of every shape the planner makes (border-touching, tiny, sizes not a multiple of 8, two crops at
    one QP, one crop at two QPs): one ffmpeg run, each stream the same bytes as its own encode."""
    rects = _rects(bus_frame, [(0, 0, 40, 60), (50, 400, 245, 903), (222, 409, 344, 860), (670, 380, 809, 878),
                               (300, 700, 311, 711), (0, 1000, 810, 1080)])
    rects.append(rects[1])
    qps = [22, 37, 37, 45, 51, 30, 50]
    params = [EncodeParams(qp=q) for q in qps]
    batch = encode_crops(bus_frame, rects, params, cache=False)
    runs = _runs(batch)
    assert len(runs) == 1 and "-filter_complex" in next(iter(runs))  # one process coded them all
    assert next(iter(runs)).count("libvvenc") == len(rects)
    for r, p, b in zip(rects, params, batch):
        _same_stream(b, _single(bus_frame, r, p))
        assert (b.width, b.height) == (r[2], r[3]) and b.slice_qps == [p.qp]


def test_odd_sized_picture_and_its_border(zidane_jpg):
    """An odd display size (coded padded to even): crops reaching the padded right and bottom edge."""
    rgb = read_picture(zidane_jpg)[:719, :1279]
    frame = picture_to_clip(rgb).frames[0]
    assert (frame.width, frame.height) == (1280, 720) and frame.display == (1279, 719)
    rects = _rects(frame, [(1100, 600, 1279, 719), (0, 500, 101, 719), (640, 0, 1279, 83)])
    assert any(x + w == 1280 for x, _, w, _ in rects) and any(y + h == 720 for _, y, _, h in rects)
    params = [EncodeParams(qp=q) for q in (27, 40, 33)]
    batch = encode_crops(frame, rects, params, cache=False)
    assert len(_runs(batch)) == 1
    for r, p, b in zip(rects, params, batch):
        _same_stream(b, _single(frame, r, p))


def test_other_settings_reach_every_output(bus_frame):
    """Preset and explicit threads are per output, as in a single encode; a QP the encoder moves (perceptual
    QPA) is refused as a single encode refuses it."""
    rects = _rects(bus_frame, [(100, 100, 200, 260), (500, 600, 700, 800)])
    params = [EncodeParams(qp=32, preset="fast"), EncodeParams(qp=32, threads=1)]
    batch = encode_crops(bus_frame, rects, params, cache=False)
    assert len(_runs(batch)) == 1
    for r, p, b in zip(rects, params, batch):
        _same_stream(b, _single(bus_frame, r, p))
    with pytest.raises(VcmError, match="coded at QP 33, not the 32 asked for"):
        encode_crops(bus_frame, rects, [params[0], EncodeParams(qp=32, qpa=True)], cache=False)


def test_cache_is_shared_with_single_encodes(bus_frame, tmp_path):
    """Crops already coded (by `encode`) are hits, only the others go into the one run; afterwards `encode` of
    every crop is a hit with the same bytes."""
    store = EncodeCache(tmp_path / "cache")
    rects = _rects(bus_frame, [(10, 10, 120, 200), (300, 400, 420, 700), (600, 100, 800, 300), (50, 800, 250, 1000)])
    params = [EncodeParams(qp=q) for q in (30, 35, 40, 45)]
    first = encode(crop_clip(bus_frame, rects[1]), params[1], cache=store)
    assert not first.cached
    got = encode_crops(bus_frame, rects, params, cache=store)
    assert [g.cached for g in got] == [False, True, False, False]
    assert Path(got[1].bitstream).read_bytes() == Path(first.bitstream).read_bytes()
    runs = _runs([g for g in got if not g.cached])
    assert len(runs) == 1 and next(iter(runs)).count("libvvenc") == 3  # the hit was not coded again
    for r, p, g in zip(rects, params, got):
        again = encode(crop_clip(bus_frame, r), p, cache=store)
        assert again.cached and Path(again.bitstream).read_bytes() == Path(g.bitstream).read_bytes()
        _same_stream(g, _single(bus_frame, r, p))
    assert all(g.cached for g in encode_crops(bus_frame, rects, params, cache=store))


def test_refused_crop_fails_like_its_single_encode(bus_frame, tmp_path):
    """libvvenc refuses one crop of the run: the others are coded (and cached), the refused one raises the
    error of its single encode, with the near-lossless fix."""
    rect, qp = REFUSED
    with pytest.raises(VcmError) as single:
        _single(bus_frame, rect, EncodeParams(qp=qp))
    assert "near-lossless" in str(single.value)
    store = EncodeCache(tmp_path / "cache")
    good = _rects(bus_frame, [(100, 100, 200, 260), (500, 600, 700, 800)])
    rects, params = [good[0], rect, good[1]], [EncodeParams(qp=37), EncodeParams(qp=qp), EncodeParams(qp=42)]
    with pytest.raises(VcmError) as batch:
        encode_crops(bus_frame, rects, params, cache=store)
    assert "exit code 187" in str(batch.value) and "near-lossless" in str(batch.value)
    for r, p in ((good[0], params[0]), (good[1], params[2])):  # coded before the failure was raised
        hit = encode(crop_clip(bus_frame, r), p, cache=store)
        assert hit.cached
        _same_stream(hit, _single(bus_frame, r, p))

    # the backend itself answers each crop in place: results for the good ones, the error for the refused one
    enc = create_encoder("ffmpeg")
    jobs = [CropJob(r, p, tmp_path / f"c{i}.266") for i, (r, p) in enumerate(zip(rects, params))]
    got = enc.encode_crops(bus_frame, jobs)
    assert isinstance(got[1], VcmError) and not isinstance(got[0], Exception) and not isinstance(got[2], Exception)
    for i in (0, 2):
        _same_stream(got[i], _single(bus_frame, rects[i], params[i]))


def test_default_implementation_codes_each_crop_alone(bus_frame, tmp_path):
    """The interface's default (every other backend): one encode per crop, the same streams."""
    enc = create_encoder("ffmpeg")
    rects = _rects(bus_frame, [(100, 100, 200, 260), (500, 600, 700, 800), (0, 0, 30, 30)])
    jobs = [CropJob(r, EncodeParams(qp=q), tmp_path / f"c{i}.266") for i, (r, q) in enumerate(zip(rects, (30, 40, 50)))]
    alone = Encoder.encode_crops(enc, bus_frame, jobs)
    together = enc.encode_crops(bus_frame, [CropJob(j.rect, j.params, tmp_path / f"t{i}.266") for i, j in enumerate(jobs)])
    assert len(_runs(alone)) == 3 and len(_runs(together)) == 1
    for a, t in zip(alone, together):
        _same_stream(a, t)


def test_bad_rectangle_is_refused(bus_frame):
    with pytest.raises(ValueError, match="even-aligned"):
        encode_crops(bus_frame, [(1, 0, 64, 64), (0, 0, 64, 64)], [EncodeParams(qp=37)] * 2, cache=False)
    with pytest.raises(ValueError, match="even-aligned"):
        encode_crops(bus_frame, [(800, 0, 64, 64)], [EncodeParams(qp=37)], cache=False)
