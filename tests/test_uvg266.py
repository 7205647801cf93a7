"""The uvg266 backend and `ctu` mode with the real uvg266 binary (built by the `uvg266_exe` fixture): QPs checked
from its log, round trips through PyAV and the ffmpeg CLI (one decoder thread), and one standard bitstream
whose object CTUs really carry lower QPs than the background."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import replace

import numpy as np
import pytest

from vcm.codec import EncodeParams, decode, decoded_psnr, encode, picture_to_clip, read_picture
from vcm.codec.colour import psnr
from vcm.errors import VcmError
from vcm.qp import QPPlan, QPRegion, plan
from vcm.types import Detection, ObjectJRD

# the four people of bus.jpg (810x1080), boxes by eye from the picture
PEOPLE = [(50, 400, 250, 905), (220, 405, 345, 860), (665, 365, 810, 880), (0, 550, 80, 875)]


@pytest.fixture(scope="module")
def bus_frame(bus_jpg):
    return picture_to_clip(read_picture(bus_jpg)).frames[0]


def bus_plan(frame, qps=(32, 32, 32, 32), bg=51) -> QPPlan:
    objs = [ObjectJRD(Detection(b, 0, "person", 0.9), q, "fixed") for b, q in zip(PEOPLE, qps)]
    return plan(objs, frame.width, frame.height, bg_qp=bg, margin=16)


def test_build_tool_is_idempotent(uvg266_exe, capsys):
    tool = __import__("conftest")._load_build_tool()
    src = tool.find_source()
    if src is None or uvg266_exe != str(tool.binary_path()):
        pytest.skip("uvg266 came from PATH/$VCM_UVG266, not from the build tool")
    t0 = time.perf_counter()
    assert tool.main([]) == 0
    assert capsys.readouterr().out.strip() == uvg266_exe
    assert time.perf_counter() - t0 < 10  # nothing rebuilt (the first build takes 30-90 s)
    r = subprocess.run([uvg266_exe, "--version"], capture_output=True, text=True, check=True)
    assert r.stdout.startswith("uvg266 ")


def test_picture_round_trip_and_qp(uvg266, bus_jpg):
    from vcm.codec.ffmpeg import FFmpegDecoder

    clip = picture_to_clip(read_picture(bus_jpg))
    res = encode(clip, EncodeParams(qp=37), encoder=uvg266, cache=False)
    assert res.backend == "uvg266" and res.slice_qps == [37] and res.bytes == res.bitstream.stat().st_size
    assert "--input-bitdepth" in res.command and res.params["bit_depth"] in (8, 10)
    frames = decode(res.bitstream, "pyav")
    assert len(frames) == 1 and (frames[0].width, frames[0].height) == (810, 1080)
    y, u, v = decoded_psnr(frames[0], clip.frames[0])
    # 10-bit: uvg266 uses peak 1023, vcm 1020 (VTM's): +0.026 dB, plus its padding columns; 8-bit: the log's
    # PSNR is against the 8-bit frames uvg266 was given, vcm's against the 10-bit original
    assert abs(y - res.psnr_y[0]) < (0.1 if res.params["bit_depth"] == 10 else 0.3)
    assert 27 < y < 35
    other = FFmpegDecoder().decode(res.bitstream)
    assert np.array_equal(other[0].y, frames[0].y) and np.array_equal(other[0].v, frames[0].v)


def test_wrong_qp_in_log_is_refused(uvg266, bus_frame):
    """A later -q wins in uvg266: the picture is coded at 30, the log says so, and vcm refuses it."""
    clip = picture_to_clip(np.zeros((64, 64, 3), np.uint8) + 90)
    with pytest.raises(VcmError, match="coded at QP 30, not the 37"):
        encode(clip, EncodeParams(qp=37, extra=("-q", "30")), encoder=uvg266, cache=False)


def test_video_all_intra_and_random_access(uvg266, bikes_mp4):
    from vcm.codec import read_input

    clip = read_input(bikes_mp4, max_frames=4)
    ai = encode(clip, EncodeParams(qp=40, intra=True), encoder=uvg266, cache=False)
    assert ai.slice_qps == [40] * 4 and ai.frames == 4
    ra = encode(clip, EncodeParams(qp=40, intra=False, intra_period=16), encoder=uvg266, cache=False)
    assert ra.slice_qps[0] == 40 and len(ra.slice_qps) == 4
    assert ra.bytes < ai.bytes  # inter prediction really used
    out = decode(ra.bitstream)
    assert len(out) == 4
    assert psnr(out[3].y, clip.frames[3].y) > 25


def test_ctu_map_rules():
    from vcm.coding.ctu import ctu_map

    # 300x200 picture = 5x4 CTUs; one object touching CTUs (cols 1..2, rows 0..1) at QP 20, one at 40 in (4, 3);
    # where both would touch one CTU the lower QP wins
    p = QPPlan(300, 200, 51, (QPRegion(0, (70, 10, 60, 70), 20, 20), QPRegion(1, (260, 194, 40, 6), 40, 40),
                              QPRegion(2, (120, 60, 10, 10), 45, 45)))
    m = ctu_map(p, bit_depth=10)
    want = np.full((4, 5), 51)
    want[0:2, 1:3] = 20
    want[3, 4] = 40
    assert np.array_equal(m.requested, want)
    assert m.base_qp == 20 and m.span == 31 and not m.clamped and np.array_equal(m.qps, want)
    assert np.array_equal(m.deltas, want - 20)
    m8 = ctu_map(p, bit_depth=8)  # 8-bit holds a span of 25: the background comes down to 20 + 25
    assert m8.span == 25 and m8.clamped and m8.clamped_ctus == int((want == 51).sum())
    exp8 = np.minimum(want, 45)
    assert np.array_equal(m8.qps, exp8) and m8.qps[3, 4] == 40  # objects keep their QPs
    assert m8.to_json()["max_qp"] == 45
    m63 = ctu_map(replace(p, bg_qp=63), bit_depth=10)  # uvg266 codes QP 51 at most
    assert m63.clamped and int(m63.qps.max()) == 51 and m63.qps[3, 4] == 40
    assert m.pixel_qps(300, 200).shape == (200, 300) and m.pixel_qps(300, 200)[199, 299] == 40


def test_ctu_mode_one_bitstream_with_object_qps(uvg266, bus_frame, tmp_path):
    """bus.jpg, people at QP 32, background 51: one VVC stream; every CTU's QP as planned (uvg266's own per-CTU
    report); any decoder shows one picture; object areas as good as a flat QP-32 picture, background much worse."""
    from vcm.codec.uvg266 import parse_ctu_qps
    from vcm.coding.ctu import ctu_map
    from vcm.coding.modes import code_picture_mode, read_coded_file, reconstruct, to_vcm_file
    from vcm.container import write_vcm_file

    p = bus_plan(bus_frame)
    coded = code_picture_mode("ctu", bus_frame, p, EncodeParams(qp=51), encoder=uvg266, cache=False)
    assert coded.mode == "ctu" and len(coded.streams) == 1
    s = coded.streams[0]
    assert s.qp == 32 and s.result.slice_qps == [32] and s.result.backend == "uvg266"
    assert coded.settings["ctu"]["base_qp"] == 32 and not coded.settings["ctu"]["clamped"]
    m = ctu_map(p, s.result.params["bit_depth"])
    got = parse_ctu_qps(s.result.log_path.read_text())
    assert len(got) == 1 and np.array_equal(got[0], m.qps) and set(np.unique(got[0])) == {32, 51}

    from vcm.coding.modes import encode_frame

    flat = encode_frame(bus_frame, 32, EncodeParams(qp=32), uvg266, "bt709", cache=False)
    assert s.bytes < 0.7 * flat.bytes

    rec = reconstruct(coded)  # PyAV, one thread
    assert (rec.width, rec.height) == (810, 1080)
    qmap = m.pixel_qps(bus_frame.width, bus_frame.height)
    inside, outside = qmap == 32, qmap == 51
    flat_rec = decode(flat.bitstream)[0]

    def region_psnr(a, mask):
        err = (a.y.astype(np.float64) - bus_frame.y.astype(np.float64))[mask] ** 2
        return 10 * np.log10(1020.0 ** 2 / err.mean())

    assert abs(region_psnr(rec, inside) - region_psnr(flat_rec, inside)) < 1.0  # objects: like the flat QP 32
    assert region_psnr(rec, inside) - region_psnr(rec, outside) > 4.0  # background coded much coarser
    assert region_psnr(flat_rec, outside) - region_psnr(rec, outside) > 4.0

    # the vcm file holds it as one stream; vcm decode and the ffmpeg CLI (one thread) show the same one picture
    path = tmp_path / "bus_ctu.266"
    write_vcm_file(path, to_vcm_file(coded))
    back, vf = read_coded_file(path)
    assert len(vf.streams) == 1 and np.array_equal(back.y, rec.y)
    from vcm.codec.ffmpeg import FFmpegDecoder, PyAVDecoder

    for dec in (FFmpegDecoder(), PyAVDecoder()):  # any VVC decoder reads the vcm file as ONE picture
        pics = dec.decode(path)
        assert len(pics) == 1 and np.array_equal(pics[0].y, rec.y) and np.array_equal(pics[0].u, rec.u)


def test_ctu_mode_clamps_and_says_so(uvg266, bus_frame, caplog):
    """People at QP 12 and background 51 span 39: more than one picture holds; the background comes down to
    base + span and the result says so; the people keep QP 12."""
    from vcm.codec.uvg266 import parse_ctu_qps
    from vcm.coding.modes import code_picture_mode

    p = bus_plan(bus_frame, qps=(12, 20, 20, 20))
    with caplog.at_level("INFO"):
        coded = code_picture_mode("ctu", bus_frame, p, EncodeParams(qp=51), encoder=uvg266, cache=False)
    info = coded.settings["ctu"]
    assert info["clamped"] and info["base_qp"] == 12 and info["max_qp"] == 12 + info["span"]
    assert "lowered" in caplog.text
    got = parse_ctu_qps(coded.streams[0].result.log_path.read_text())[0]
    assert int(got.min()) == 12 and int(got.max()) == 12 + info["span"]


def test_ctu_mode_needs_uvg266(bus_frame):
    from vcm.coding.ctu import encode_ctu, ctu_map

    with pytest.raises(VcmError, match="needs an encoder with a CTU QP map"):
        encode_ctu([bus_frame], [ctu_map(bus_plan(bus_frame))], EncodeParams(qp=30), encoder="ffmpeg")


def test_build_found_but_not_used_by_itself(uvg266_exe, monkeypatch):
    """The build cache's uvg266 is not used without $VCM_UVG266 (ctu mode joins --mode auto only where the user
    set it up), but the backend knows it, so `vcm doctor` can name it."""
    from vcm.codec.uvg266 import UVG266Encoder

    tool = __import__("conftest")._load_build_tool()
    if uvg266_exe != str(tool.binary_path()):
        pytest.skip("uvg266 came from PATH/$VCM_UVG266, not from the build tool")
    monkeypatch.delenv("VCM_UVG266", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert UVG266Encoder().exe is None and UVG266Encoder.built_exe() == uvg266_exe


@pytest.mark.slow
def test_doctor_lists_uvg266(uvg266_exe, monkeypatch):
    from vcm.pipelines.doctor import diagnose

    monkeypatch.setenv("VCM_UVG266", uvg266_exe)
    rows = {r["name"]: r for r in diagnose().rows}
    assert rows["encoder uvg266"]["ok"], rows["encoder uvg266"]["detail"]
    assert "uvg266 0." in rows["encoder uvg266"]["detail"]


def test_both_bit_depth_builds(uvg266_exe, bus_frame):
    """An 8-bit build codes vcm's 10-bit frames rounded to 8 bits, a 10-bit build codes them as they are; both
    decode, back at 10 bits, to about the same picture at the same QP (needs both builds in the cache:
    `tools/build_uvg266.py --bit-depth 8` and `--bit-depth 10`)."""
    from vcm.codec.uvg266 import UVG266Encoder, default_build_paths
    from vcm.coding.modes import encode_frame

    builds = {UVG266Encoder(str(p)).bit_depth: UVG266Encoder(str(p)) for p in default_build_paths() if p.exists()}
    if set(builds) != {8, 10}:
        why = "needs both an 8-bit and a 10-bit uvg266 build in the cache: run `make uvg266`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    y = {}
    for bd, enc in builds.items():
        assert enc.version().endswith(f"{bd}-bit")
        r = encode_frame(bus_frame, 37, EncodeParams(qp=37), enc, "bt709", cache=False)
        assert r.slice_qps == [37] and r.params["bit_depth"] == bd
        assert r.command[r.command.index("--input-bitdepth") + 1] == str(bd)
        y[bd] = psnr(decode(r.bitstream)[0].y, bus_frame.y)
    assert abs(y[8] - y[10]) < 1.0 and 27 < y[8] < 35


def test_ctu_video_segments(uvg266, bikes_mp4):
    """bikes.mp4, 10 frames, a box moving right at QP 30, background 51, segments of 8 frames: one uvg266
    random-access sequence per segment; every picture's CTU QPs = its slice QP + the segment map's delta (checked
    by the backend from uvg266's per-CTU report); the units decode to 10 frames, the box area much better."""
    from vcm.codec import read_input
    from vcm.codec.uvg266 import parse_ctu_qps, parse_log
    from vcm.coding.ctu import segment_map
    from vcm.coding.video import code_video, decode_units

    clip = read_input(bikes_mp4, max_frames=10)
    plans = [QPPlan(clip.width, clip.height, 51, (QPRegion(0, (100 + 20 * i, 64, 120, 128), 30, 30),))
             for i in range(10)]
    cv = code_video("ctu", clip.frames, plans, EncodeParams(qp=51, intra=False, intra_period=8), fps=clip.fps,
                    encoder=uvg266, cache=False)
    assert cv.mode == "ctu" and [u.frames for u in cv.units] == [8, 2] and [u.qp for u in cv.units] == [30, 30]
    assert cv.settings["encoder"] == "uvg266"
    res = cv.units[0].results[0]
    text = res.log_path.read_text()
    pics, got = parse_log(text), parse_ctu_qps(text)
    m = segment_map(plans[:8], res.params["bit_depth"])
    assert len(got) == 8 and np.array_equal(got[0], m.qps)  # the intra picture: exactly the map
    assert {p.slice_type for p in pics[1:]} & {"B", "P"}  # inter pictures (their QPs: slice QP + delta)
    frames = decode_units("ctu", [(u.frames, u.data) for u in cv.units], clip.width, clip.height)
    assert len(frames) == 10
    mask = m.pixel_qps(clip.width, clip.height) == 30
    err = (frames[0].y.astype(np.float64) - clip.frames[0].y.astype(np.float64)) ** 2
    assert 10 * np.log10(1020.0 ** 2 / err[mask].mean()) - 10 * np.log10(1020.0 ** 2 / err[~mask].mean()) > 4


def test_per_picture_maps_need_all_intra(uvg266, bikes_mp4):
    from vcm.codec import read_input
    from vcm.coding.ctu import ctu_map, encode_ctu

    clip = read_input(bikes_mp4, max_frames=2)
    maps = [ctu_map(QPPlan(clip.width, clip.height, 40, (QPRegion(0, (64 * i, 0, 64, 64), 30, 30),))) for i in range(2)]
    with pytest.raises(VcmError, match="need all-intra"):
        encode_ctu(clip.frames, maps, EncodeParams(qp=30, intra=False), uvg266, cache=False)
    res = encode_ctu(clip.frames, maps, EncodeParams(qp=30, intra=True), uvg266, cache=False)  # in order: fine
    assert res.slice_qps == [30, 30]
