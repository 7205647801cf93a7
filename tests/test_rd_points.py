"""The benchmark's RD points: which points `span_points` adds (pure, on made-up curves) and that a JRD point is
the file `vcm encode` writes with the same settings (a positive offset, a QP floor), with the real nanodet,
libvvenc and decoder on bus.jpg."""
from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from vcm.cli import main
from vcm.metrics.rd import ANCHOR, CurvePoint
from vcm.pipelines.benchmark import SPAN_STEP, BenchmarkConfig, first_floors, span_points


def _pt(curve: str, map50: float, bpp: float, offset: int | None = None, qp: int | None = None,
        qp_min: int | None = None) -> CurvePoint:
    return CurvePoint(curve, "p", qp, offset, None, 1, int(bpp * 1000), 1000, bpp, map50, map50 * 0.7, 1.0, 0.0,
                      qp_min)


def _anchor(lo: float = 0.4, hi: float = 1.0) -> list[CurvePoint]:
    qs = (22, 27, 32, 37, 42, 47)
    return [_pt(ANCHOR, hi - (hi - lo) * i / 5, 1.0 / (i + 1), qp=q) for i, q in enumerate(qs)]


def test_first_floors_are_the_quartiles_and_two_steps_past_the_largest():
    jrds = [30, 34, 38, 42, 46, 50, 54]
    assert first_floors(jrds) == [36, 42, 48, 54 + SPAN_STEP, 54 + 2 * SPAN_STEP]
    assert first_floors([40] * 5) == [40 + SPAN_STEP, 40 + 2 * SPAN_STEP]  # fixed:Q: floors above Q only
    assert first_floors([60, 61]) == [61, 63]  # capped at 63, none at or below the smallest JRD
    assert first_floors([]) == []


def test_a_curve_above_the_anchor_gets_floors_then_a_higher_one(tmp_path):
    cfg = BenchmarkConfig(data=tmp_path, out=tmp_path / "r", jrd=("search",), offsets=(-4, 0))
    curve = [_pt("objects/search", 1.0, 0.1, offset=-4), _pt("objects/search", 0.98, 0.05, offset=0)]
    added = span_points(_anchor() + curve, cfg, {"search": [30, 34, 38, 42, 46, 50, 54]})
    assert cfg.floors_for("search") == (36, 42, 48, 58, 62) and any("QP floors" in a for a in added)
    assert cfg.offsets_for("search") == (-4, 0)  # never a positive offset: the coarse side is floors
    # the next round: still above the anchor's lowest mAP -> one higher floor; then nothing past 63
    curve += [_pt("objects/search", 0.7, 0.02, offset=0, qp_min=62)]
    span_points(_anchor() + curve, cfg, {"search": [30, 34, 38, 42, 46, 50, 54]})
    assert cfg.floors_for("search")[-1] == 64  # the end of every curve: no object protected
    curve += [_pt("objects/search", 0.62, 0.01, offset=0, qp_min=64)]  # still above the anchor: nothing more
    assert not any("search" in a for a in span_points(_anchor() + curve, cfg, {}))
    assert cfg.points_for("search")[:2] == [(-4, None), (0, None)] and cfg.points_for("search")[2] == (0, 36)
    # video: the ladder ends at 63 (a video segment without a protected object is coded at the background QP,
    # so floor 64 wrote a larger file than floor 63: on Megamind 0.00144 bpp at mAP 0.85 against 0.00094 at 0.12)
    video = BenchmarkConfig(data=tmp_path, out=tmp_path / "v", jrd=("search",), offsets=(0,), floors=(55,))
    at55 = [_pt("objects/search", 0.98, 0.05, offset=0), _pt("objects/search", 0.7, 0.02, offset=0, qp_min=55)]
    span_points(_anchor() + at55, video, {"search": [40, 44]}, gives_up=False, backgrounds=False)
    assert video.floors_for("search")[-1] == 63
    at63 = at55 + [_pt("objects/search", 0.6, 0.01, offset=0, qp_min=63)]
    span_points(_anchor() + at63, video, {"search": [40, 44]}, gives_up=False, backgrounds=False)
    assert max(video.floors_for("search")) == 63


def test_a_wide_accuracy_gap_between_floors_gets_a_floor_halfway(tmp_path):
    cfg = BenchmarkConfig(data=tmp_path, out=tmp_path / "r", jrd=("search",), offsets=(0,), floors=(40, 48, 61))
    curve = [_pt("objects/search", 1.0, 0.05, offset=0), _pt("objects/search", 0.65, 0.02, offset=0, qp_min=40),
             _pt("objects/search", 0.45, 0.012, offset=0, qp_min=48),
             _pt("objects/search", 0.02, 0.005, offset=0, qp_min=61)]
    added = span_points(_anchor(lo=0.02) + curve, cfg, {"search": [30, 40, 50]})
    # 0.45 -> 0.02, and 1.0 at offset 0 (the floor at the smallest JRD, 30) -> 0.65 at floor 40
    assert cfg.floors_for("search") == (35, 40, 48, 54, 61) and added == ["search QP floors 35,54"]
    # fixed:41 on the photos: 0.904 at offset 0, 0.325 at floor 45, nothing between
    cfg = BenchmarkConfig(data=tmp_path, out=tmp_path / "r", jrd=("fixed:41",), offsets=(0,), floors=(45, 49, 64))
    cliff = [_pt("objects/fixed:41", 0.904, 0.06, offset=0), _pt("objects/fixed:41", 0.325, 0.009, offset=0, qp_min=45),
             _pt("objects/fixed:41", 0.207, 0.0056, offset=0, qp_min=49),
             _pt("objects/fixed:41", 0.02, 0.004, offset=0, qp_min=64)]
    added = span_points(_anchor(lo=0.02) + cliff, cfg, {"fixed:41": [41] * 6})
    assert [a for a in added if "floors" in a] == ["fixed:41 QP floors 43"]  # none past 41 + 8: all given up there


def test_a_curve_that_reaches_the_anchor_gets_no_floor_and_finer_offsets_only_while_gaining(tmp_path):
    cfg = BenchmarkConfig(data=tmp_path, out=tmp_path / "r", jrd=("prior",), offsets=(-4, 0))
    reaches = [_pt("objects/prior", 0.9, 0.1, offset=-4), _pt("objects/prior", 0.3, 0.05, offset=0)]
    added = span_points(_anchor() + reaches, cfg, {"prior": [40, 44]})
    assert cfg.floors_for("prior") == () and cfg.offsets_for("prior") == (-8, -4, 0)  # finer: 0.9 < the anchor's 1.0
    assert "anchor QP 52" in added  # 0.3 lies below the anchor's coarsest point
    cfg2 = BenchmarkConfig(data=tmp_path, out=tmp_path / "r", jrd=("prior",), offsets=(-4, 0))
    flat = [_pt("objects/prior", 0.9, 0.1, offset=-4), _pt("objects/prior", 0.9, 0.05, offset=0)]
    span_points(_anchor() + flat, cfg2, {"prior": [40, 44]})
    assert cfg2.offsets_for("prior") == (-4, 0)  # the finer point did not gain: no finer one


def test_a_curve_below_the_anchors_top_gets_finer_backgrounds_down_to_the_anchors_finest_qp(tmp_path):
    cfg = BenchmarkConfig(data=tmp_path, out=tmp_path / "r", jrd=("search",), offsets=(-4, 0))
    # mAP@0.5:0.95 tops out under the coarse background whatever the offset: the finest offset no longer gains
    capped = [_pt("objects/search", 0.8, 0.06, offset=-4), _pt("objects/search", 0.8, 0.05, offset=0)]
    added = span_points(_anchor() + capped, cfg, {"search": [40, 44]})
    assert cfg.backgrounds_for("search") == (33, 39, 45) and "search background QPs 33,39,45" in added
    assert cfg.offsets_for("search") == (-4, 0)  # not gaining: no finer offset
    finer = [replace(_pt("objects/search", 0.85, 0.08, offset=0), bg_qp=b, point=f"off+0_bg{b}") for b in (45, 39)]
    finer.append(replace(_pt("objects/search", 0.9, 0.3, offset=0), bg_qp=33, point="off+0_bg33"))
    span_points(_anchor() + capped + finer, cfg, {"search": [40, 44]})
    assert cfg.backgrounds_for("search") == (27, 33, 39, 45)  # the finer points count as the curve's top...
    span_points(_anchor() + capped + finer, cfg, {"search": [40, 44]})
    assert min(cfg.backgrounds_for("search")) == 22  # ...down to the anchor's finest QP, never past it
    assert not any("background" in a for a in span_points(_anchor() + capped + finer, cfg, {"search": [40, 44]}))
    # the finer points are not the offset-0 plan: its ladder and its "still gaining" test ignore them
    video = BenchmarkConfig(data=tmp_path, out=tmp_path / "v", jrd=("search",), offsets=(-4, 0))
    span_points(_anchor() + capped, video, {"search": [40, 44]}, gives_up=False, backgrounds=False)
    assert video.backgrounds_for("search") == ()  # video has no finer-background points


def test_finer_background_points_count_only_for_the_quality_that_needs_them(tmp_path):
    from vcm.metrics.rd import needed_points

    def bg(map50: float, map_: float, bpp: float, b: int) -> CurvePoint:
        return replace(_pt("objects/search", map50, bpp, offset=0), map=map_, bg_qp=b, point=f"off+0_bg{b}")

    plan = [replace(_pt("objects/search", 0.99, 0.01, offset=0), map=0.70)]  # mAP@0.5 at the top, 0.5:0.95 not
    finer = [bg(0.97, 0.72, 0.05, 45), bg(0.99, 0.98, 0.2, 33), bg(1.0, 0.99, 0.4, 27)]
    anchor = [replace(p, map=p.map50) for p in _anchor()]  # both qualities 0.4..1.0: the top is 1.0 - 0.03
    pts = anchor + plan + finer
    assert needed_points(pts, "map50") == anchor + plan  # the plan's points reach 0.99: the tail would bend the fit
    assert needed_points(pts, "map") == anchor + plan + finer[:2]  # up to the first that reaches the top (0.98)
    given = [bg(0.97, 0.72, 0.05, 45)]  # a curve made of given --bg-qps points only keeps them all
    assert needed_points(anchor + given, "map50") == anchor + given
    # curves.csv says which points each quality uses, and `vcm bdrate` reads it so
    from vcm.metrics.bdrate import read_rd_curve
    from vcm.report import write_curves_csv

    write_curves_csv(tmp_path / "curves.csv", pts)
    table, _ = read_rd_curve(tmp_path / "curves.csv", "objects/search")
    assert list(table.curve("map50")[0]) == [0.01] and list(table.curve("map")[0]) == [0.01, 0.05, 0.2]


def test_a_finer_background_is_written_as_asked_and_is_the_benchmarks_point(bus_jpg, tmp_path, nanodet_weights):
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, ["benchmark", str(bus_jpg), "-o", str(out), "--jrd", "prior", "--qps", "42,47",
                                    "--offsets=0", "--bg-qps", "39", "--modes", "plain,objects", "--no-span",
                                    "--baseline", "none", "--quiet"])
    assert res.exit_code == 0, res.output
    row = _rows(out / "points.csv")["off+0_bg39"]
    sizes = {}
    for name, mode, extra in (("bg39", "objects", ["--bg-qp", "39"]), ("default", "objects", []),
                              ("frame bg39", "frame", ["--bg-qp", "39"]), ("frame", "frame", [])):
        f = tmp_path / f"{name}.vcm"
        r = CliRunner().invoke(main, ["encode", str(bus_jpg), "-o", str(f), "--mode", mode, "--jrd", "prior",
                                      *extra])
        assert r.exit_code == 0, r.output
        sizes[name] = f.stat().st_size
    # frame mode has no background to code finer (one QP): its file does not change with --bg-qp
    assert sizes["frame bg39"] == sizes["frame"]
    assert sizes["bg39"] == int(row["bytes"])  # the benchmark's point is exactly this file
    # finer than the default backgrounds was asked: written although a smaller plain VVC keeps the same objects
    assert sizes["bg39"] > 2 * sizes["default"] and int(row["kept"]) == int(row["objects"])


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {r["point"]: r for r in csv.DictReader(f) if r["mode"] == "objects"}


def test_offset_and_floor_points_are_the_files_vcm_encode_writes(bus_jpg, tmp_path, nanodet_weights):
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, ["benchmark", str(bus_jpg), "-o", str(out), "--jrd", "prior", "--qps", "42,47",
                                    "--offsets=0,4", "--floors=50,64", "--modes", "plain,objects", "--no-span",
                                    "--baseline", "none", "--quiet"])
    assert res.exit_code == 0, res.output
    rows = _rows(out / "points.csv")
    assert set(rows) == {"off+0", "off+4", "off+0_min50", "off+0_min64"} and rows["off+0_min50"]["qp_min"] == "50"
    assert rows["off+0_min64"]["min_qp"] == "63" and int(rows["off+0_min64"]["kept"]) < int(rows["off+0"]["kept"])
    assert int(rows["off+0_min50"]["min_qp"]) >= 50 or rows["off+0_min50"]["chosen"] == "plain"
    for pid, extra in (("off+4", ["--jrd-offset", "4"]), ("off+0_min50", ["--qp-min", "50"]),
                       ("off+0_min64", ["--qp-min", "64"])):
        f = tmp_path / f"{pid}.vcm"
        r = CliRunner().invoke(main, ["encode", str(bus_jpg), "-o", str(f), "--mode", "objects", "--jrd", "prior",
                                      *extra])
        assert r.exit_code == 0, r.output
        assert f.stat().st_size == int(rows[pid]["bytes"]), pid  # the benchmark's point is exactly this file
    # coarser than the JRDs is cheaper: rate falls with offset and floor by construction
    assert int(rows["off+0"]["bytes"]) >= int(rows["off+4"]["bytes"])
    assert int(rows["off+0"]["bytes"]) >= int(rows["off+0_min50"]["bytes"]) >= int(rows["off+0_min64"]["bytes"])


def test_a_floor_holds_for_the_plain_fall_back_too(bus_jpg, tmp_path, nanodet_weights):
    """`--qp-min 56` with every JRD at 56: objects mode there loses two people, and the plain VVC that keeps them
    all is QP 52. That file used to be written (a floor point finer than its floor: on the photos 28-33 floor
    points of the prior and dtjrd curves were such rescues); now nothing is coded below the floor and the people
    lost there stay lost, as they do when the floor lies above their JRD."""
    out = {}
    for floor in (52, 56):
        f = tmp_path / f"min{floor}.vcm"
        rep = tmp_path / f"min{floor}.json"
        r = CliRunner().invoke(main, ["encode", str(bus_jpg), "-o", str(f), "--mode", "objects", "--jrd",
                                      f"fixed:{floor}", "--qp-min", str(floor), "--json", str(rep)])
        assert r.exit_code == 0, r.output
        out[floor] = json.loads(rep.read_text())
        assert min(s["qp"] for s in out[floor]["streams"]) >= floor, (floor, out[floor]["streams"])
    assert out[52]["counts"]["lost"] == 0  # at 52 (its plain keeping QP) every object is kept
    assert out[56]["counts"]["lost"] > 0 and out[56]["total_bytes"] < out[52]["total_bytes"]
