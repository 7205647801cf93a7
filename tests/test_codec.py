"""The codec layer with the real ffmpeg/libvvenc encoder and the real VVC decoders."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vcm.codec import (EncodeParams, YuvClip, code_picture, decode, decoded_psnr, encode, picture_to_clip,
                       read_input, read_picture, rgb_to_yuv, yuv_to_rgb)
from vcm.codec.cache import EncodeCache
from vcm.codec.encoder_log import parse_picture_lines
from vcm.errors import VcmError


@pytest.fixture(scope="module")
def photo(astronaut_png) -> np.ndarray:
    return read_picture(astronaut_png)


def test_qp_sweep_bytes_and_psnr_fall_and_slice_qp_is_exact(photo, tmp_path):
    clip = picture_to_clip(photo)
    results = [encode(clip, EncodeParams(qp=qp), cache=EncodeCache(tmp_path / "c")) for qp in range(22, 58, 5)]
    sizes = [r.bytes for r in results]
    psnrs = [r.psnr for r in results]
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes
    assert all(a > b for a, b in zip(psnrs, psnrs[1:])), psnrs
    for qp, r in zip(range(22, 58, 5), results):
        assert r.slice_qps == [qp]
        assert "-qpa" in r.command and "IntraQPOffset=0" in " ".join(r.command)
        assert r.log_path and Path(r.log_path).exists()
        frame = decode(r.bitstream)[0]
        y, u, v = decoded_psnr(frame, clip.frames[0])
        assert abs(y - r.psnr_y[0]) < 0.01 and abs(u - r.psnr_u[0]) < 0.01 and abs(v - r.psnr_v[0]) < 0.01


@pytest.mark.parametrize("size", [(200, 120), (201, 121), (77, 50)])
def test_decoded_size_equals_input_size(photo, size):
    w, h = size
    rgb = np.ascontiguousarray(photo[:h, :w])
    decoded, res = code_picture(rgb, qp=30)
    assert decoded.shape == rgb.shape
    assert (res.width, res.height) == (w + w % 2, h + h % 2)
    # the picture survived: a moderate QP keeps it close
    assert np.mean(np.abs(decoded.astype(int) - rgb.astype(int))) < 12


def test_pyav_and_ffmpeg_decodes_are_identical(photo):
    res = encode(picture_to_clip(photo), EncodeParams(qp=37))
    a, b = decode(res.bitstream, "pyav")[0], decode(res.bitstream, "ffmpeg")[0]
    for p, q in ((a.y, b.y), (a.u, b.u), (a.v, b.v)):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("size", [(64, 96), (512, 512)])
def test_decoding_is_deterministic_and_matches_the_encoder_log(photo, size):
    """64x96 (one CTU wide, two tall) is the case ffmpeg 9.0.2's threaded decoder gets wrong."""
    w, h = size
    clip = picture_to_clip(np.ascontiguousarray(photo[100:100 + h, 200:200 + w]))
    res = encode(clip, EncodeParams(qp=32))
    first = decode(res.bitstream)[0]
    for _ in range(9):
        again = decode(res.bitstream)[0]
        assert np.array_equal(again.y, first.y) and np.array_equal(again.u, first.u)
    y, _, _ = decoded_psnr(first, clip.frames[0])
    assert abs(y - res.psnr_y[0]) < 0.01


def test_colour_conversion_round_trip_is_close(photo):
    back = yuv_to_rgb(rgb_to_yuv(photo))
    mse = np.mean((back.astype(float) - photo.astype(float)) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 36


def test_bt601_and_bt709_differ_and_are_recorded(photo):
    a, b = rgb_to_yuv(photo, "bt601"), rgb_to_yuv(photo, "bt709")
    assert not np.array_equal(a.y, b.y)
    res = encode(picture_to_clip(photo, "bt601"), EncodeParams(qp=40))
    assert res.params["matrix"] == "bt601"


def test_grey_rgba_and_16bit_pictures_are_read(tmp_path, photo):
    import cv2

    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    rgba = np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    cv2.imwrite(str(tmp_path / "d.tif"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    g = read_picture(tmp_path / "g.png")
    assert g.shape == photo.shape and np.array_equal(g[..., 0], g[..., 2])
    assert np.array_equal(read_picture(tmp_path / "a.png"), photo)
    assert np.array_equal(read_picture(tmp_path / "d.tif"), photo)


def test_raw_yuv_and_y4m_inputs(tmp_path, photo):
    from vcm.media import write_y4m

    frame = rgb_to_yuv(photo[:120, :160])
    write_y4m(tmp_path / "a.y4m", [frame, frame], fps=30)
    clip = read_input(tmp_path / "a.y4m")
    assert len(clip.frames) == 2 and clip.fps == 30 and np.array_equal(clip.frames[1].y, frame.y)
    raw = b"".join(np.ascontiguousarray(p, dtype="<u2").tobytes() for p in (frame.y, frame.u, frame.v))
    (tmp_path / "a.yuv").write_bytes(raw * 3)
    clip = read_input(tmp_path / "a.yuv", size=(160, 120), pix_fmt="yuv420p10le")
    assert len(clip.frames) == 3 and np.array_equal(clip.frames[2].v, frame.v)
    with pytest.raises(VcmError, match="whole number"):
        read_input(tmp_path / "a.yuv", size=(161, 120), pix_fmt="yuv420p10le")
    with pytest.raises(VcmError, match="--size"):
        read_input(tmp_path / "a.yuv")


def test_video_clip_all_intra_and_random_access(bikes_mp4, tmp_path):
    clip = read_input(bikes_mp4, max_frames=6)
    assert (clip.width, clip.height) == (640, 272) and len(clip.frames) == 6
    ai = encode(clip, EncodeParams(qp=37, intra=True))
    ra = encode(clip, EncodeParams(qp=37, intra=False, intra_period=32))
    assert ai.slice_qps == [37] * 6
    # the intra picture carries the QP asked for; B pictures the GOP's hierarchical offsets above it
    assert min(ra.slice_qps) == 37 and len(ra.slice_qps) == 6 and max(ra.slice_qps) > 37
    assert ra.bytes < ai.bytes  # inter prediction pays off on a real clip
    for res in (ai, ra):
        frames = decode(res.bitstream)
        assert len(frames) == 6 and all((f.width, f.height) == (640, 272) for f in frames)


def test_cache_reuses_encodes_and_respects_its_cap(photo, tmp_path):
    cache = EncodeCache(tmp_path / "cache")
    clip = picture_to_clip(photo[:128, :128].copy())
    a = encode(clip, EncodeParams(qp=30), cache=cache)
    b = encode(clip, EncodeParams(qp=30), cache=cache)
    assert not a.cached and b.cached and a.bytes == b.bytes
    assert Path(a.bitstream).read_bytes() == Path(b.bitstream).read_bytes()
    c = encode(clip, EncodeParams(qp=30, preset="fast"), cache=cache)
    assert not c.cached  # every parameter is in the key
    tiny = EncodeCache(tmp_path / "cache", max_mb=0.000001)
    tiny.evict()
    assert not list((tmp_path / "cache").glob("*/*.266"))


def test_cache_checks_its_cap_without_scanning_on_every_store(photo, tmp_path):
    """A scan of the cache per store cost 0.35 s at 30,000 entries: stores scan only after _slack bytes or when
    the last scan (the `.evicted` stamp) is EVICT_EVERY_S old; an over-cap cache is still trimmed then."""
    import os
    import time

    from vcm.codec.cache import EVICT_EVERY_S

    root = tmp_path / "cache"
    cache = EncodeCache(root, max_mb=0.002)  # 2 kB: a few small entries exceed it; slack is 1 MiB
    clip = picture_to_clip(photo[:64, :64].copy())
    encode(clip, EncodeParams(qp=20), cache=cache)  # the first store scans: no stamp yet
    stamp = root / ".evicted"
    assert stamp.is_file()
    old = time.time() - 60
    os.utime(stamp, (old, old))
    for q in range(21, 27):
        encode(clip, EncodeParams(qp=q), cache=cache)
    entries = list(root.glob("*/*.266"))
    assert stamp.stat().st_mtime == pytest.approx(old)  # no scan: under the slack, the stamp is recent
    assert len(entries) == 7 and sum(p.stat().st_size for p in entries) > cache.max_bytes  # over the cap, for now
    old = time.time() - EVICT_EVERY_S - 1
    os.utime(stamp, (old, old))
    encode(clip, EncodeParams(qp=27), cache=cache)  # the stamp is old: this store scans and trims
    left = list(root.glob("*/*.266"))
    assert stamp.stat().st_mtime > old + 1 and 0 < len(left) < 8
    assert sum(p.stat().st_size for p in left) <= cache.max_bytes
    assert encode(clip, EncodeParams(qp=27), cache=cache).cached  # the least recently used went first


def test_cache_is_shared_safely_by_processes(tmp_path, astronaut_png):
    code = ("import sys; from vcm.codec import *; from vcm.codec.cache import EncodeCache;"
            "c=picture_to_clip(read_picture(sys.argv[1])[:256,:256].copy());"
            "r=encode(c, EncodeParams(qp=33), cache=EncodeCache(sys.argv[2])); print(r.bytes)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(astronaut_png), str(tmp_path / "c")],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate()[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1
    assert len(list((tmp_path / "c").glob("*/*.266"))) == 1
    assert not list((tmp_path / "c").glob("*/*.tmp*"))


def test_log_parser_reads_vvenc_and_vtm_lines():
    text = ("POC     1 TId: 0 (       CRA, I-SLICE, QP 37, TF 0)      70248 bits [Y 25.7674 dB    U 25.6768 dB    V 25.7371 dB]\n"
            "POC     0 TId: 0 (  IDR_N_LP, I-SLICE, QP 37, TF 0)      70080 bits [Y 25.7216 dB    U 25.6753 dB    V 25.7880 dB]\n"
            "POC    2 LId:  0 TId: 0 ( CRA, B-SLICE, QP 40 )      1234 bits [Y 30.1 dB    U 40.2 dB    V 41.3 dB] [ET 1 ]\n")
    pics = parse_picture_lines(text)
    assert [p.poc for p in pics] == [0, 1, 2]
    assert pics[0].bits == 70080 and pics[2].qp == 40 and pics[2].slice_type == "B" and pics[1].psnr_v == 25.7371


def test_too_small_picture_is_rejected():
    with pytest.raises(VcmError, match="too small"):
        picture_to_clip(np.zeros((8, 8, 3), np.uint8))


def test_multi_frame_clip_in_one_call_keeps_order(photo):
    frames = [rgb_to_yuv(np.ascontiguousarray(photo[i * 10:i * 10 + 64, :64])) for i in range(3)]
    res = encode(YuvClip(frames, fps=25), EncodeParams(qp=30))
    dec = decode(res.bitstream)
    psnrs = [decoded_psnr(d, f)[0] for d, f in zip(dec, frames)]
    assert all(abs(p - q) < 0.01 for p, q in zip(psnrs, res.psnr_y))
