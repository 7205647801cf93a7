"""Coding modes, `vcm encode` / `vcm decode` / `vcm predict`: real encoder, real offline detector, real pictures."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vcm import qp as qpmod
from vcm.codec import EncodeParams, decode, read_picture, rgb_to_yuv, yuv_to_rgb
from vcm.codec.base import YuvFrame
from vcm.coding.modes import code_picture_mode, read_coded_file, reconstruct, to_vcm_file
from vcm.coding.regions import blur_outside, composite, crop_frame, fill_rects
from vcm.container import write_vcm_file
from vcm.errors import VcmError
from vcm.types import Detection, ObjectJRD

REPO = Path(__file__).resolve().parents[1]


def _frame(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return YuvFrame(rng.integers(64, 940, (h, w), dtype=np.uint16), rng.integers(64, 960, (h // 2, w // 2), dtype=np.uint16),
                    rng.integers(64, 960, (h // 2, w // 2), dtype=np.uint16))


def _obj(box, jrd):
    return ObjectJRD(Detection(tuple(float(v) for v in box), 0, "person", 0.9), jrd, "fixed")


# ------------------------------------------------------------------------------------------------ pixel work
def test_crop_and_composite_are_exact():
    orig, bg = _frame(64, 96, 1), _frame(64, 96, 2)
    rects = [(0, 0, 20, 16), (40, 30, 56, 34), (50, 20, 10, 10)]
    out = composite(bg, [(r, crop_frame(orig, r)) for r in rects])
    mask = np.zeros((64, 96), bool)
    for x, y, w, h in rects:
        mask[y:y + h, x:x + w] = True
    assert (out.y[mask] == orig.y[mask]).all() and (out.y[~mask] == bg.y[~mask]).all()
    assert (out.u[mask[::2, ::2]] == orig.u[mask[::2, ::2]]).all()
    with pytest.raises(ValueError):
        crop_frame(orig, (1, 0, 10, 10))  # odd corner: chroma would not line up


def test_fill_and_blur_touch_only_their_side():
    f = _frame(96, 128, 3)
    rects = [(10, 12, 40, 30)]
    filled, blurred = fill_rects(f, rects), blur_outside(f, rects)
    inside = np.zeros(f.y.shape, bool)
    inside[12:42, 10:50] = True
    assert (filled.y[~inside] == f.y[~inside]).all() and (filled.y[inside] != f.y[inside]).any()
    assert (blurred.y[inside] == f.y[inside]).all() and (blurred.y[~inside] != f.y[~inside]).any()
    assert filled.y[inside].std() < f.y[inside].std() / 4  # low-pass: cheap to code


# ------------------------------------------------------------------------------- objects mode, crafted boxes
@pytest.fixture(scope="module")
def odd_picture(bus_jpg):
    """A 333x517 cut of bus.jpg: odd width and height."""
    return np.ascontiguousarray(read_picture(bus_jpg)[300:817, 40:373])


def test_objects_round_trip_overlap_border_odd_size(odd_picture, tmp_path):
    rgb = odd_picture
    h, w = rgb.shape[:2]
    objs = [_obj((20, 30, 150, 300), 45),  # overlaps the next one
            _obj((100, 200, 250, 420), 30),
            _obj((0, 0, 40, 60), 40),  # touches the top-left corner
            _obj((290, 470, w, h), 35)]  # touches the bottom-right corner
    plan = qpmod.plan(objs, w, h, bg_qp=51, margin=8)
    frame = rgb_to_yuv(rgb)
    coded = code_picture_mode("objects", frame, plan, EncodeParams(qp=51))
    path = tmp_path / "odd.266"
    size = write_vcm_file(path, to_vcm_file(coded))
    assert size == path.stat().st_size > coded.stream_bytes
    assert [s.role for s in coded.streams] == ["background"] + ["object"] * 4

    out, vf = read_coded_file(path)
    assert out.display_size == (w, h) and (vf.width, vf.height) == (w, h)
    # what the search predictor and the encoder's check see is exactly what the file decodes to
    rec = reconstruct(coded)
    assert all((getattr(rec, p) == getattr(out, p)).all() for p in "yuv")
    assert yuv_to_rgb(out).shape == rgb.shape
    # every pixel of the QP map shows the stream that map names: each object's own decoded stream (lowest
    # QP on top where boxes overlap), the background elsewhere
    qmap = plan.qp_map()
    streams = {s.qp: decode(s.result.bitstream)[0] for s in coded.streams}
    for s in coded.streams[1:]:
        x, y, rw, rh = s.rect
        mine = qmap[y:y + rh, x:x + rw] == s.qp
        assert mine.any()
        assert (out.y[y:y + rh, x:x + rw][mine] == streams[s.qp].y[:rh, :rw][mine]).all()
    bg = qmap == 51
    assert (out.y[bg] == streams[51].y[:out.height, :out.width][bg]).all()


def test_single_stream_modes(odd_picture):
    rgb = odd_picture
    h, w = rgb.shape[:2]
    plan = qpmod.plan([_obj((20, 30, 150, 300), 45), _obj((100, 200, 250, 420), 33)], w, h)
    frame = rgb_to_yuv(rgb)
    for mode, want_qp in (("frame", 33), ("blur", 33), ("plain", 40)):
        c = code_picture_mode(mode, frame, plan, EncodeParams(qp=0), qp=40)
        assert len(c.streams) == 1 and c.streams[0].qp == want_qp and c.streams[0].result.slice_qps == [want_qp]
    with pytest.raises(VcmError, match="--qp"):
        code_picture_mode("plain", frame, plan, EncodeParams(qp=0))
    with pytest.raises(VcmError, match="unknown coding mode"):
        code_picture_mode("roi", frame, plan, EncodeParams(qp=0))


# --------------------------------------------------------------------------------------------- the pipeline
@pytest.fixture(scope="module")
def bus_search(bus_jpg, tmp_path_factory):
    """bus.jpg in objects mode with nanodet, --jrd search, background QP 63: the setting the method is for
    (plain VVC at the lowest object QP then codes the background finer than objects mode does)."""
    from vcm.pipelines.encode import run_encode
    from vcm.settings import CodingSettings

    out = tmp_path_factory.mktemp("enc") / "bus.266"
    return run_encode(bus_jpg, out, CodingSettings(mode="objects", bg_qp=63)), out


def test_search_keeps_every_object_detected(bus_search):
    """Every object at the keep score is still detected in the written file; weaker boxes are not kept."""
    report, out = bus_search
    kept = [o for o in report.objects if o["kept"]]
    weak = [o for o in report.objects if o["status"] == "below keep score"]
    assert len(kept) >= 4 and weak and all(o["score"] < 0.5 <= k["score"] for o in weak for k in kept)
    assert report.check["still_detected"] == report.check["objects"] == len(kept)
    assert all(o["still_detected"] for o in kept) and all(o["still_detected"] is None for o in weak)
    assert report.total_bytes == out.stat().st_size


def test_objects_never_cost_more_than_plain_at_min_object_qp(bus_search, tmp_path):
    """The invariant on bus.jpg (nanodet's bus box with its margin covers 67 % of the picture: objects mode
    costs more, so the file falls back to plain VVC at the lowest object QP), and a picture where the object
    streams win (scikit-image's motorcycle: the object at QP 46, the rest at 63)."""
    from vcm.bundled import bundled_pictures
    from vcm.pipelines.encode import run_encode
    from vcm.settings import CodingSettings

    report, _ = bus_search
    assert report.total_bytes <= report.plain_min_qp["bytes"]
    assert report.plain_min_qp["qp"] == min(o["qp"] for o in report.objects if o["kept"])
    moto = next(p for p in bundled_pictures("default") if p.name == "motorcycle_left.png").path()
    r = run_encode(moto, tmp_path / "m.266", CodingSettings(mode="objects", bg_qp=63))
    assert r.settings["choice"]["chosen"] == "objects@63" and len(r.streams) >= 2
    assert r.total_bytes < r.plain_min_qp["bytes"] and r.streams[0]["qp"] == 63
    assert r.check["still_detected"] == r.check["objects"] >= 1


def test_touching_objects_share_a_stream_where_it_is_cheaper(bus_jpg, tmp_path):
    """bus.jpg at 640x480, --jrd prior, objects mode: the bus and the three people overlap; one stream (their
    bounding box at the lowest of their QPs) is smaller than the four apart, every object is still detected,
    and the file decodes to the picture the check saw."""
    from vcm.coding.choose import file_bytes
    from vcm.pipelines.encode import run_encode
    from vcm.settings import CodingSettings

    png = tmp_path / "bus640.png"
    cv2.imwrite(str(png), cv2.resize(cv2.imread(str(bus_jpg)), (640, 480), interpolation=cv2.INTER_AREA))
    r = run_encode(png, tmp_path / "b.266", CodingSettings(jrd="prior", mode="objects", bg_qp=63))
    cands = {c["name"]: c for c in r.settings["choice"]["candidates"]}
    assert cands["objects@63"]["checked"] and cands["objects@63"]["passed"]  # the shared stream keeps all four
    assert r.check["still_detected"] == r.check["objects"] == 4
    if r.settings["choice"]["chosen"] != "objects@63":  # a smaller plain VVC that keeps all four is written instead
        assert r.settings["choice"]["chosen"].startswith("plain@") and r.total_bytes < cands["objects@63"]["bytes"]
    plan = qpmod.QPPlan(**{**r.settings["plan"], "regions": tuple(
        qpmod.QPRegion(g["index"], tuple(g["rect"]), g["qp"], g["jrd"]) for g in r.settings["plan"]["regions"])})
    frame = rgb_to_yuv(read_picture(png))
    apart = code_picture_mode("objects", frame, plan, EncodeParams(qp=63), display=(640, 480))
    merged = code_picture_mode("objects", frame, plan, EncodeParams(qp=63), display=(640, 480),
                               merge_tolerance=qpmod.MERGE_QP_TOLERANCE)
    assert len(apart.streams) == 5 and [st.role for st in merged.streams] == ["background", "object"]
    shared = merged.streams[1]
    assert len(shared.shared) == 3 and file_bytes(merged) < file_bytes(apart)
    assert file_bytes(merged) == cands["objects@63"]["bytes"]
    if r.settings["choice"]["chosen"] == "objects@63":  # the file decodes to the picture the check saw
        out, _ = read_coded_file(tmp_path / "b.266")
        rec = reconstruct(merged)
        assert all((getattr(rec, c) == getattr(out, c)).all() for c in "yuv")


def test_shared_stream_that_loses_an_object_falls_back_to_one_stream_each(tmp_path):
    """bigbuckbunny frame 30, both objects at QP 43 (their JRD from --jrd search), objects mode: the small box
    lies inside the large one; coded as one stream both are lost, so the plan choice codes them apart again
    (objects@63/split) and keeps both, as before merging existed."""
    from vcm.bundled import bundled_pictures
    from vcm.pipelines.encode import run_encode
    from vcm.settings import CodingSettings

    pic = next(p for p in bundled_pictures("large", stride={"bigbuckbunny": 30, "bikes": 0, "carphone_pristine": 0},
                                           cache_dir=tmp_path / "frames") if p.name == "bigbuckbunny_f030.png")
    r = run_encode(pic.path(), tmp_path / "b.266", CodingSettings(jrd="fixed:43", mode="objects"))
    cands = {c["name"]: c for c in r.settings["choice"]["candidates"]}
    assert cands["objects@63"]["checked"] and not cands["objects@63"]["passed"]  # the shared stream
    assert cands["objects@63/split"]["passed"] and cands["objects@63"]["bytes"] < cands["objects@63/split"]["bytes"]
    assert r.check["still_detected"] == r.check["objects"] == 2
    if r.settings["choice"]["chosen"] == "objects@63/split":
        assert cands["objects@63/split"]["bytes"] == r.total_bytes
        assert [o["status"] for o in r.objects if o["kept"]] == ["own stream", "own stream"]
    else:  # a smaller plain VVC that keeps both is written instead
        assert r.settings["choice"]["chosen"].startswith("plain@")
        assert r.total_bytes < cands["objects@63/split"]["bytes"]


def test_decode_restores_size(bus_search, bus_jpg, tmp_path):
    from vcm.pipelines.decode import run_decode

    report, out = bus_search
    png = tmp_path / "bus.png"
    r = run_decode(out, png)
    dec = read_picture(png)
    assert dec.shape == read_picture(bus_jpg).shape
    assert len(r.streams) == len(report.streams) == 1 + sum(o["status"] == "own stream" for o in report.objects)


def test_no_detections_gives_background_only_file(tmp_path):
    from skimage import data

    from vcm.pipelines.decode import run_decode
    from vcm.pipelines.encode import run_encode
    from vcm.settings import CodingSettings

    src = tmp_path / "chelsea.png"
    cv2.imwrite(str(src), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    report = run_encode(src, tmp_path / "cat.266", CodingSettings(detector="hog-person"))
    assert report.objects == [] and len(report.streams) == 1 and report.check["objects"] == 0
    assert report.plain_min_qp["qp"] == 63  # nothing to keep: the coarsest background of --bg-qp auto
    r = run_decode(tmp_path / "cat.266", tmp_path / "cat.png")
    assert read_picture(tmp_path / "cat.png").shape == data.chelsea().shape and len(r.streams) == 1


def test_object_no_qp_can_save_stays_in_background(tmp_path):
    """A box the detector cannot find at any QP (a made-up person on the cat picture) gets no crop stream."""
    from skimage import data

    from vcm.pipelines.encode import run_encode
    from vcm.settings import CodingSettings
    from vcm.detect import create_detector
    from vcm.types import Detections

    rgb = data.chelsea()
    src = tmp_path / "chelsea.png"
    cv2.imwrite(str(src), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    det = create_detector("hog-person")
    assert len(det.detect([rgb])[0]) == 0
    fake = Detections(rgb.shape[1], rgb.shape[0], (Detection((100.0, 40.0, 180.0, 200.0), 0, "person", 0.9),))
    report = run_encode(src, tmp_path / "cat.266", CodingSettings(mode="objects", bg_qp=55), detector=det,
                        detections=fake)
    o = report.objects[0]
    assert o["in_background"] and o["jrd"] is None and o["bytes"] is None and o["qp"] == 55
    assert o["status"] == "not protectable" and not o["kept"] and len(report.streams) == 1
    assert report.check["objects"] == 0 and report.check["not_protectable"] == 1
    info = report.settings["search_stats"]
    assert info["probes"] == 8  # lost at QPs 0..7, a whole window: the rule gives up there


# ------------------------------------------------------------------------------------------------------ CLI
def _cli(args):
    from vcm.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def half_bus(bus_jpg, tmp_path_factory):
    p = tmp_path_factory.mktemp("half") / "bus_half.png"
    rgb = cv2.resize(read_picture(bus_jpg), (406, 540), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return p


def test_cli_encode_json_report_loads_in_pandas(half_bus, tmp_path):
    import pandas as pd

    out, rep = tmp_path / "b.266", tmp_path / "b.json"
    res = _cli(["encode", half_bus, "-o", out, "--jrd", "prior", "--mode", "objects", "--bg-qp", "63",
                "--json", rep])
    assert res.exit_code == 0, res.output
    assert "objects still detected" in res.output and "plain VVC" in res.output
    d = json.loads(rep.read_text())
    chosen = d["settings"]["choice"]["chosen"]
    assert d["total_bytes"] == out.stat().st_size and (chosen == "objects@63" or chosen.startswith("plain"))
    ref = d["settings"]["choice"]["plain_reference"]  # never larger than the smallest plain VVC that keeps all
    assert ref is None or d["total_bytes"] <= ref["bytes"]
    assert (d["width"], d["height"]) == (406, 540)
    df = pd.DataFrame(d["objects"])
    assert len(df) >= 1 and {"box", "label", "score", "jrd", "qp", "bytes", "status"} <= set(df.columns)
    own = df[df["status"] == "own stream"]
    assert (own["bytes"] > 0).all()
    # a stream shared by touching objects codes them at the lower QP of theirs (qp.MERGE_QP_TOLERANCE apart)
    coded = df[df["status"].isin(("own stream", "shares a stream"))]
    assert (coded["qp"] <= coded["jrd"]).all() and (coded["jrd"] - coded["qp"] <= qpmod.MERGE_QP_TOLERANCE).all()
    flat = pd.json_normalize(d)
    assert flat.loc[0, "total_bytes"] == d["total_bytes"]


def test_cli_plain_mode_and_bad_options(half_bus, tmp_path):
    res = _cli(["encode", half_bus, "-o", tmp_path / "p.266", "--mode", "plain", "--qp", "40", "--no-check"])
    assert res.exit_code == 0, res.output
    res = _cli(["encode", half_bus, "-o", tmp_path / "p.266", "--mode", "plain"])
    assert res.exit_code == 2 and "--qp" in res.output
    res = _cli(["encode", tmp_path / "missing.jpg", "-o", tmp_path / "m.266"])
    assert res.exit_code == 2 and "missing.jpg" in res.output
    res = _cli(["encode", half_bus, "--jrd", "fixed:99", "-o", tmp_path / "x.266"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.266").exists()


def test_cli_damaged_files_are_rejected(half_bus, tmp_path):
    good = tmp_path / "g.266"
    assert _cli(["encode", half_bus, "-o", good, "--jrd", "fixed:40", "--no-check"]).exit_code == 0
    data = good.read_bytes()
    cut, flip = tmp_path / "cut.266", tmp_path / "flip.266"
    cut.write_bytes(data[:len(data) * 2 // 3])
    b = bytearray(data)
    b[len(b) // 2] ^= 0x10
    flip.write_bytes(bytes(b))
    for bad in (cut, flip):
        res = _cli(["decode", bad, "-o", tmp_path / "bad.png"])
        assert res.exit_code == 2, res.output
        line = res.output.strip()
        assert len(line.splitlines()) == 1 and bad.name in line and "Fix" in line
        assert not (tmp_path / "bad.png").exists()
    assert _cli(["decode", good, "-o", tmp_path / "ok.png"]).exit_code == 0


def test_cli_predict_prior(half_bus, tmp_path):
    res = _cli(["predict", half_bus, "--jrd", "prior", "--json", tmp_path / "p.json"])
    assert res.exit_code == 0, res.output
    d = json.loads((tmp_path / "p.json").read_text())
    assert d["objects"] and any(o["jrd"] is not None for o in d["objects"])
    for o in d["objects"]:  # objects to keep get a JRD; weaker boxes are listed without one, as encode leaves them
        assert (o["jrd"] is None) == (o["score"] < 0.5) and (o["jrd"] is None or 0 <= o["jrd"] <= 63)
    assert d["predictor"]["predictor"] == "prior"


def test_help_shows_examples_and_decode_stays_light(half_bus, tmp_path):
    for cmd in ("encode", "decode", "predict"):
        res = _cli([cmd, "--help"])
        assert res.exit_code == 0 and "vcm " + cmd in res.output and "Example" in res.output
    f = tmp_path / "l.266"
    assert _cli(["encode", half_bus, "-o", f, "--jrd", "fixed:45", "--no-check"]).exit_code == 0
    code = ("import sys; from vcm.cli import main\n"
            "try:\n main(['decode', sys.argv[1], '-o', sys.argv[2]])\nexcept SystemExit as e:\n assert not e.code, e.code\n"
            "heavy = [m for m in ('torch', 'ultralytics', 'timm') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code, str(f), str(tmp_path / "l.png")], capture_output=True, text=True,
                       cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "l.png").exists()


@pytest.mark.slow
def test_bench_coding_runs(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_coding", REPO / "tools/bench_coding.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "b.json"
    assert mod.main(["--pictures", "astronaut", "--bg-qps", "63", "--repeat", "1", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    modes = {r["mode"] for r in d["rd"]}
    assert modes == {"plain", "frame", "blur", "objects"} and d["timing"][0]["objects_prior_vs_plain"] > 0
    assert "| astronaut |" in capsys.readouterr().out


def test_encode_draw_shows_each_object_and_warns_on_an_empty_picture(bus_jpg, tmp_path, nanodet_weights):
    """`vcm encode --draw`: the picture with every object's box and caption, green where the written file still
    shows the object; on a picture with no object, a warning and the decoded picture as it is."""
    from vcm.cli import main
    from vcm.detect.draw import KEPT, NOT_KEPT

    out, drawn, js = tmp_path / "bus.266", tmp_path / "bus_objects.png", tmp_path / "bus.json"
    r = CliRunner().invoke(main, ["encode", str(bus_jpg), "-o", str(out), "--jrd", "prior", "--draw", str(drawn),
                                  "--json", str(js)])
    assert r.exit_code == 0, r.output
    doc = json.loads(js.read_text())
    pic, orig = read_picture(drawn), read_picture(bus_jpg)
    assert pic.shape == orig.shape and (pic != orig).any()
    for o in doc["objects"]:
        x1, y1 = (int(round(v)) for v in o["box"][:2])
        colour = KEPT if o["kept"] and o["still_detected"] else NOT_KEPT if not o["kept"] else None
        if colour is not None:  # the box's left edge, below the caption, has the object's colour
            edge = pic[min(y1 + 40, pic.shape[0] - 1), max(x1, 0)]
            assert tuple(int(v) for v in edge) == colour, (o, edge)
    assert any(o["kept"] and o["still_detected"] for o in doc["objects"])

    blank = tmp_path / "grey.png"
    cv2.imwrite(str(blank), np.full((96, 128, 3), 128, np.uint8))
    r = CliRunner().invoke(main, ["encode", str(blank), "-o", str(tmp_path / "g.266"), "--jrd", "prior",
                                  "--draw", str(tmp_path / "g.png")])
    assert r.exit_code == 0, r.output
    from vcm.pipelines.decode import run_decode  # drawn on the written file, decoded (what the machine gets)

    assert "found no object" in r.output
    assert (read_picture(tmp_path / "g.png") == run_decode(tmp_path / "g.266", None).picture).all()
