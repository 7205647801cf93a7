"""VTM for real (EncoderApp/DecoderApp from `make vtm`, fixture `vtm_apps`), on tiny pictures and few frames: QPs
from its log, all-intra and random access, VTM's decoder and PyAV bit-identical, the per-CTU QP map of vcm's
patch checked against what the decoder reads back, ctu mode with VTM, and `vcm benchmark --anchor vtm`."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

from vcm.codec import EncodeParams, decode, decoded_psnr, encode, picture_to_clip, read_picture
from vcm.codec.base import YuvClip
from vcm.errors import VcmError

REPO = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("vcm_tools_build_vtm", REPO / "tools" / "build_vtm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bus_rgb(bus_jpg):
    """bus.jpg's left 640x800 (people and the bus front) down to 128x160: 2x3 CTUs of 64."""
    import cv2

    return cv2.resize(read_picture(bus_jpg)[200:1000, :640], (128, 160), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def vtm(vtm_apps):
    from vcm.codec.vtm import VTMDecoder, VTMEncoder

    return VTMEncoder(vtm_apps[0]), VTMDecoder(vtm_apps[1])


def _decode_both(bitstream, dec):
    """VTM's DecoderApp and PyAV (ffmpeg's native decoder) give the same frames, sample for sample."""
    a, b = decode(bitstream, dec), decode(bitstream, "pyav")
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for p, q in ((x.y, y.y), (x.u, y.u), (x.v, y.v)):
            assert np.array_equal(p, q)
    return a


def test_build_tool_is_idempotent_and_found_without_environment(vtm_apps, monkeypatch, capsys):
    from vcm.codec.vtm import VTMDecoder, VTMEncoder

    tool = _tool()
    if tool.find_source() is None or list(vtm_apps) != [str(p) for p in tool.program_paths()]:
        pytest.skip("VTM came from PATH/$VCM_VTM_ENCODER, not from the build tool")
    t0 = time.perf_counter()
    assert tool.main([]) == 0
    assert capsys.readouterr().out.strip() == vtm_apps[0]
    assert time.perf_counter() - t0 < 30  # nothing rebuilt (the build takes 5-8 min)
    for var in ("VCM_VTM_ENCODER", "VCM_VTM_DECODER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert (VTMEncoder().exe, VTMDecoder().exe) == vtm_apps  # the build cache, no environment variable
    assert VTMEncoder().version() == "EncoderApp 23.13"


def test_all_intra_picture(vtm, bus_rgb):
    enc, dec = vtm
    clip = picture_to_clip(bus_rgb)
    res = encode(clip, EncodeParams(qp=37), encoder=enc, cache=False)
    assert res.backend == "vtm" and res.slice_qps == [37] and res.bytes == res.bitstream.stat().st_size
    assert res.command[res.command.index("-c") + 1].endswith("encoder_intra_vtm.cfg")
    assert "--IntraQPOffset=0" in res.command and not any("CtuQpMapFile" in c for c in res.command)
    frames = _decode_both(res.bitstream, dec)
    assert len(frames) == 1 and (frames[0].width, frames[0].height) == (128, 160)
    y, _, _ = decoded_psnr(frames[0], clip.frames[0])
    assert abs(y - res.psnr_y[0]) < 0.05 and 25 < y < 40  # the log's PSNR is the decoded picture's
    with pytest.raises(VcmError, match="out of range"):
        encode(clip, EncodeParams(qp=64), encoder=enc, cache=False)


def _moving_clip(bus_jpg, n: int) -> YuvClip:
    """n frames of a 96x64 window panning right over bus.jpg (scaled to a third)."""
    import cv2

    from vcm.codec import rgb_to_yuv

    small = cv2.resize(read_picture(bus_jpg), (270, 360), interpolation=cv2.INTER_AREA)
    return YuvClip([rgb_to_yuv(np.ascontiguousarray(small[150:214, 4 * i:4 * i + 96])) for i in range(n)], fps=25.0)


def test_random_access_and_all_intra_video(vtm, bus_jpg):
    from vcm.codec.encoder_log import parse_picture_lines

    enc, dec = vtm
    clip = _moving_clip(bus_jpg, 4)
    ra = encode(clip, EncodeParams(qp=32, intra=False, intra_period=32), encoder=enc, cache=False)
    assert ra.command[ra.command.index("-c") + 1].endswith("encoder_randomaccess_vtm.cfg")
    pics = parse_picture_lines(ra.log_path.read_text())
    assert [p.poc for p in pics] == [0, 1, 2, 3] and pics[0].slice_type == "I" and pics[0].qp == 32
    assert {p.slice_type for p in pics[1:]} <= {"B", "P"} and all(p.qp > 32 for p in pics[1:])  # the GOP's offsets
    assert len(_decode_both(ra.bitstream, dec)) == 4
    ai = encode(clip, EncodeParams(qp=32, intra=True), encoder=enc, cache=False)
    assert ai.slice_qps == [32] * 4 and ai.bytes > ra.bytes
    assert len(_decode_both(ai.bitstream, dec)) == 4


def test_ctu_qp_map_as_decoded(vtm, bus_rgb):
    """vcm's patch: every CTU at slice QP + its delta (any QP 0..63 in one picture), what the encoder logs is
    what DecoderApp reads from the bitstream, and PyAV decodes the same picture."""
    from vcm.codec.vtm import parse_ctu_qps
    from vcm.coding.ctu import CTUMap, encode_ctu

    enc, dec = vtm
    frame = picture_to_clip(bus_rgb).frames[0]
    qps = np.array([[22, 37], [47, 57], [30, 63]], dtype=np.int16)  # 2 columns x 3 rows of 64x64 CTUs
    res = encode_ctu([frame], [CTUMap(qps, qps, 22, 63)], EncodeParams(qp=22), enc, cache=False)
    assert res.slice_qps == [22] and "--CTUSize=64" in res.command
    written = parse_ctu_qps(res.log_path.read_text())
    read = dec.decoded_ctu_qps(res.bitstream)
    assert written == read and set(read) == {0} and len(read[0]) == 6
    coded = {a: int(q) for a, q in read[0].items() if q != "-"}
    assert len(coded) >= 4 and all(q == qps.ravel()[a] for a, q in coded.items())
    out = _decode_both(res.bitstream, dec)[0]
    err = (out.y.astype(np.float64) - frame.y.astype(np.float64)) ** 2
    mse = [err[64 * r:64 * r + 64, 64 * c:64 * c + 64].mean() for r, c in ((0, 0), (1, 1))]
    assert mse[0] * 8 < mse[1]  # QP 22 against QP 57: far finer


def test_ctu_video_random_access(vtm, bus_jpg):
    """ctu mode on video with VTM: one random-access sequence whose inter pictures carry their slice QP (the GOP's
    offsets) plus the segment map's delta in every CTU with a residual - checked by the backend from the log - and
    that decodes with PyAV like VTM's decoder."""
    from vcm.codec.encoder_log import parse_picture_lines
    from vcm.codec.vtm import parse_ctu_qps
    from vcm.coding.video import code_video
    from vcm.qp import QPPlan, QPRegion

    enc, dec = vtm
    clip = _moving_clip(bus_jpg, 3)
    plans = [QPPlan(96, 64, 55, (QPRegion(0, (0, 0, 40, 40), 30, 30),))] * 3
    with pytest.raises(VcmError, match="multiple of 32"):  # the CTC cfg's GOP of 32
        code_video("ctu", clip.frames, plans, EncodeParams(qp=55, intra=False, intra_period=8), fps=clip.fps,
                   encoder=enc, cache=False)
    cv = code_video("ctu", clip.frames, plans, EncodeParams(qp=55, intra=False, intra_period=32), fps=clip.fps,
                    encoder=enc, cache=False)
    res = cv.units[0].results[0]
    assert cv.settings["encoder"] == "vtm" and res.backend == "vtm" and cv.units[0].qp == 30
    text = res.log_path.read_text()
    pics, ctus = parse_picture_lines(text), parse_ctu_qps(text)
    assert {p.slice_type for p in pics[1:]} <= {"B", "P"} and set(ctus) == {0, 1, 2}
    for p in pics:  # CTU 0 holds the object (delta 0), CTU 1 the background (delta 25)
        assert ctus[p.poc][0] in ("-", str(p.qp)) and ctus[p.poc][1] in ("-", str(min(p.qp + 25, 63)))
    assert dec.decoded_ctu_qps(res.bitstream) == ctus
    assert len(_decode_both(res.bitstream, dec)) == 3


def test_ctu_check_catches_a_wrong_qp(tmp_path):
    from vcm.codec.vtm import check_ctu_qps

    maps = [np.array([[0, 10]])]
    check_ctu_qps({0: {0: "30", 1: "-"}}, maps, {0: 30}, tmp_path / "log")  # no residual: nothing to check
    with pytest.raises(VcmError, match="CTU 1 was coded at QP 30, not 40"):
        check_ctu_qps({0: {0: "30", 1: "30"}}, maps, {0: 30}, tmp_path / "log")
    with pytest.raises(VcmError, match="make vtm"):
        check_ctu_qps({}, maps, {0: 30}, tmp_path / "log")  # a VTM without vcm's patch logs nothing


def test_ctu_mode_with_vtm_keeps_background_63(vtm, bus_rgb):
    """`--mode ctu --encoder vtm`: the plan as asked (VTM holds QPs 0..63 in one picture; uvg266 stops at 51)."""
    from vcm.coding.modes import code_picture_mode
    from vcm.qp import QPPlan, QPRegion

    enc, dec = vtm
    frame = picture_to_clip(bus_rgb).frames[0]
    plan = QPPlan(128, 160, 63, (QPRegion(0, (10, 20, 40, 100), 30, 30),))
    coded = code_picture_mode("ctu", frame, plan, EncodeParams(qp=63), encoder=enc, cache=False)
    info = coded.settings["ctu"]
    assert len(coded.streams) == 1 and coded.streams[0].result.backend == "vtm"
    assert info["base_qp"] == 30 and info["max_qp"] == 63 and not info["clamped"]
    assert len(_decode_both(coded.streams[0].result.bitstream, dec)) == 1


def test_benchmark_anchor_vtm(vtm, bus_rgb, tmp_path):
    """`vcm benchmark --anchor vtm`: plain VVC coded by VTM (the same file a VTM encode at that QP writes), the JRD
    modes by --encoder; the report names both encoders."""
    import cv2

    from vcm.pipelines.benchmark import BenchmarkConfig, run_benchmark
    from vcm.report import read_points_csv

    data = tmp_path / "pics"
    data.mkdir()
    cv2.imwrite(str(data / "bus.png"), cv2.cvtColor(bus_rgb, cv2.COLOR_RGB2BGR))
    rep = run_benchmark(BenchmarkConfig(data, tmp_path / "out", detector="hog-person", jrd=("fixed:40",),
                                        qps=(32, 42), modes=("plain", "frame"), anchor_encoder="vtm", progress=False,
                                        span=False, baseline="none"))
    assert rep.versions["anchor_encoder"] == "vtm EncoderApp 23.13" != rep.versions["encoder"]
    assert "--anchor vtm" in rep.command
    plain = {r.qp: r.bytes for r in read_points_csv(tmp_path / "out" / "points.csv") if r.mode == "plain"}
    clip = picture_to_clip(bus_rgb)
    assert plain == {q: encode(clip, EncodeParams(qp=q), encoder=vtm[0]).bytes for q in (32, 42)}
    assert "anchor (plain VVC) vtm EncoderApp 23.13" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.slow
def test_doctor_lists_vtm(vtm_apps):
    from vcm.pipelines.doctor import diagnose

    rows = {r["name"]: r for r in diagnose().rows}
    for kind in ("encoder", "decoder"):
        assert rows[f"{kind} vtm"]["ok"], rows[f"{kind} vtm"]["detail"]
    assert "23.13" in rows["encoder vtm"]["detail"]
