"""`vcm benchmark` on real pictures with the offline detector (hog-person), the real encoder and decoder.

One small run (2 pictures, 4 QPs, 4 offsets, objects mode with the search oracle, preset faster) is shared by
the tests of the report files; a second, cheaper run (one picture, the prior predictor) is interrupted by a
corrupt picture and resumed. The full bundled set (16 pictures, the published configuration) runs in the slow
step, where the oracle's BD-rate against plain VVC is checked: with 4 objects in the small run, mAP moves in
steps of 0.25 and its BD-rate is noise.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vcm.cli import main

QPS = "32,42,47,52"
OFFSETS = "-12,-4,0,4"


def _bikes_frame(bikes_mp4: Path, index: int, out: Path) -> Path:
    import av
    import cv2

    with av.open(str(bikes_mp4)) as c:
        stream = c.streams.video[0]
        stream.codec_context.thread_count = 1
        for i, frame in enumerate(c.decode(stream)):
            if i == index:
                cv2.imwrite(str(out), cv2.cvtColor(frame.to_ndarray(format="rgb24"), cv2.COLOR_RGB2BGR))
                return out
    raise AssertionError(f"bikes.mp4 has no frame {index}")


def _bench(*args: str) -> tuple[int, str]:
    """`vcm benchmark ARGS --quiet`; the points given only (no fixed:Q baseline, no added points) unless ARGS ask
    for them (--span / --baseline auto), so a test knows which points a run codes."""
    extra = [] if "--span" in args else ["--no-span"]
    extra += [] if "--baseline" in args else ["--baseline", "none"]
    res = CliRunner().invoke(main, ["benchmark", *args, *extra, "--quiet"])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, bus_jpg, bikes_mp4) -> Path:
    d = tmp_path_factory.mktemp("bench-pictures")
    shutil.copyfile(bus_jpg, d / "bus.jpg")
    _bikes_frame(bikes_mp4, 40, d / "bikes040.png")
    return d


@pytest.fixture(scope="module")
def report(tmp_path_factory, pictures) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench") / "report"
    code, text = _bench(str(pictures), "-o", str(out), "--jrd", "search", "--qps", QPS, f"--offsets={OFFSETS}",
                        "--modes", "plain,objects")
    assert code == 0, text
    return out, text


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_report_files_exist_and_parse(report):
    out, text = report
    from vcm.pipelines.benchmark import FILES

    for name in FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in out.iterdir()) == sorted([".work", *FILES])  # no temporary file left
    rows = _rows(out / "points.csv")
    assert len(rows) == 2 * (4 + 4)  # pictures x (plain QPs + objects/search offsets)
    assert {r["picture"] for r in rows} == {"bus.jpg", "bikes040.png"}
    assert {(r["mode"], r["predictor"]) for r in rows} == {("plain", "vvc"), ("objects", "search")}
    for r in rows:
        assert int(r["bytes"]) > 0 and int(r["bits"]) == 8 * int(r["bytes"])
        assert math.isclose(float(r["bpp"]), int(r["bits"]) / (int(r["width"]) * int(r["height"])))
        assert 0 <= int(r["kept"]) <= int(r["objects"])
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["bd_rate"]) == {"objects/search"}
    assert set(summary["bd_rate"]["objects/search"]) >= {"pchip", "akima"}
    assert set(summary["saving_at_equal_map"]) == {"objects/search"}
    assert summary["settings"]["qps"] == [32, 42, 47, 52] and summary["settings"]["detector"] == "nanodet"
    assert summary["settings"]["rule"]["keep_score"] == 0.5 and summary["settings"]["rule"]["min_score"] == 0.3
    assert summary["versions"]["encoder"] and summary["versions"]["detector"]["weights_sha256"]
    assert len(summary["versions"]["code_sha256"]) == 16
    assert summary["machine"]["cpus"] >= 1
    assert summary["command"].startswith("vcm benchmark ")
    md = (out / "report.md").read_text()
    assert "| objects/search (oracle) |" in md and "![bpp against mAP@0.5](rd.png)" in md
    import matplotlib.image

    png = matplotlib.image.imread(out / "rd.png")
    assert png.ndim == 3 and png.shape[0] > 200 and png.shape[1] > 300
    assert (png[..., :3] < 0.2).all(axis=-1).sum() > 500  # the black plain VVC curve and the axes are drawn
    # the printed summary ends with one line per compared curve
    last = text.strip().splitlines()[-1]
    assert last.startswith("objects/search (mAP@0.5:0.95): BD-rate ") and "points anchor 4->4" in last, last
    assert md.startswith("# vcm benchmark\n\n| curve | quality | BD-rate pchip | BD-rate akima |")


def test_plain_curve_monotone_in_bits(report):
    out, _ = report
    rows = [r for r in _rows(out / "points.csv") if r["mode"] == "plain"]
    for pic in {r["picture"] for r in rows}:
        by_qp = sorted((int(r["qp"]), int(r["bytes"])) for r in rows if r["picture"] == pic)
        assert [q for q, _ in by_qp] == [32, 42, 47, 52]
        sizes = [b for _, b in by_qp]
        assert all(a > b for a, b in zip(sizes, sizes[1:])), (pic, sizes)
    curve = [r for r in _rows(out / "curves.csv") if r["curve"] == "plain/vvc"]
    bpp = [float(r["bpp"]) for r in sorted(curve, key=lambda r: int(r["qp"]))]
    assert all(a > b for a, b in zip(bpp, bpp[1:]))


def test_summary_agrees_with_recomputation_from_points_csv(report):
    """bpp summed from points.csv by hand, mAP from the saved detections, BD-rate from the shared module."""
    from vcm.pipelines.benchmark import summarize
    from vcm.errors import VcmError
    from vcm.metrics.bdrate import bd_compare
    from vcm.metrics.map import pseudo_map
    from vcm.types import Detection, Detections

    out, _ = report
    summary = json.loads((out / "summary.json").read_text())
    rows = _rows(out / "points.csv")
    pics = json.loads((out / "detections.json").read_text())["pictures"]
    names = sorted(pics)

    def dets(name, items):
        return Detections(pics[name]["width"], pics[name]["height"], tuple(Detection.from_json(d) for d in items))

    curves: dict[str, list[tuple[float, float]]] = {}
    for curve, pts in summary["curves"].items():
        for pt in pts:
            mine = [r for r in rows if f"{r['mode']}/{r['predictor']}" == curve and r["point"] == pt["point"]]
            assert len(mine) == len(names)
            bpp = sum(8 * int(r["bytes"]) for r in mine) / sum(int(r["width"]) * int(r["height"]) for r in mine)
            assert bpp == pytest.approx(pt["bpp"], rel=1e-12)
            originals = [dets(n, pics[n]["original"]) for n in names]
            dont_care = [dets(n, pics[n]["dont_care"]) for n in names]
            coded = [dets(n, pics[n]["points"][f"{curve}/{pt['point']}"]) for n in names]
            m = pseudo_map(originals, coded, dont_care=dont_care)
            assert m.map50 == pytest.approx(pt["map50"], abs=1e-12)
            assert m.map50_95 == pytest.approx(pt["map"], abs=1e-12)
            curves.setdefault(curve, []).append((bpp, m.map50))
    anchor = curves["plain/vvc"]
    for curve, bd in summary["bd_rate"].items():
        test = curves[curve]
        for method in ("pchip", "akima"):
            r = bd_compare(anchor, test, method=method)
            assert bd[method] == r.value if r.value is None else bd[method] == pytest.approx(r.value, abs=1e-9)
            assert bd["warnings"] == list(r.warnings) and bd["points_used"]["test_after_fit"] == r.test_points_after_fit
            if r.value is None:
                assert bd["error"] == r.reason
    again = summarize(out)  # the pipeline's own recomputation writes nothing and agrees too
    assert json.loads(json.dumps(again.bd["bd_rate"])) == summary["bd_rate"]
    # its typed numbers give summary.json's entries under the same keys
    from vcm.report import _finite

    doc = json.loads(json.dumps(_finite(again.to_json())))
    assert {k: doc[k] for k in ("bd_rate", "bd_rate_map", "bd_fit", "saving_at_equal_map", "bd_rate_kept",
                                "curves")} == {k: summary[k] for k in ("bd_rate", "bd_rate_map", "bd_fit",
                                                                       "saving_at_equal_map", "bd_rate_kept", "curves")}
    assert doc["ground_truth"] == summary["settings"]["ground_truth"]


def test_oracle_keeps_every_object_at_offset_0_for_fewer_bits_than_plain(report):
    """The JRD criterion itself: at offset 0 the oracle's written files keep every object (its verify step codes
    the objects-mode file exactly as written; the plan check writes a dearer candidate only when plain VVC at the
    lowest object QP loses an object), and every plain VVC point that keeps every object costs more bits."""
    out, _ = report
    curves = _rows(out / "curves.csv")
    oracle = next(r for r in curves if r["curve"] == "objects/search" and r["point"] == "off+0")
    assert float(oracle["kept_fraction"]) == 1.0
    plain = [r for r in curves if r["curve"] == "plain/vvc" and float(r["kept_fraction"]) == 1.0]
    assert plain and all(float(r["bpp"]) > float(oracle["bpp"]) for r in plain), (oracle, plain)


def test_rerun_resumes_without_coding(report, pictures):
    out, _ = report
    before = (out / "points.csv").read_text()
    code, text = _bench(str(pictures), "-o", str(out), "--jrd", "search", "--qps", QPS, f"--offsets={OFFSETS}",
                        "--modes", "plain,objects")
    assert code == 0, text
    run = json.loads((out / "summary.json").read_text())["run"]
    assert run["points_computed"] == 0 and run["points_resumed"] == 16 and run["fresh_encodes"] == 0
    assert (out / "points.csv").read_text() == before


@pytest.fixture()
def small_picture(tmp_path, bikes_mp4) -> Path:
    d = tmp_path / "pics"
    d.mkdir()
    _bikes_frame(bikes_mp4, 40, d / "a_bikes040.png")
    return d


def test_interrupted_run_resumes_and_cache_reencodes_nothing(small_picture, tmp_path):
    out = tmp_path / "report"
    args = ["-o", str(out), "--jrd", "prior", "--qps", "32,42,47,52", "--offsets=-4,0,4,8", "--modes", "plain,objects"]
    (small_picture / "z_corrupt.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    code, text = _bench(str(small_picture), *args)
    assert code == 2 and "z_corrupt.jpg" in text and "Fix:" in text and len(text.strip().splitlines()) == 1
    assert not (out / "points.csv").exists() and not (out / "summary.json").exists()  # no partial report
    done = [f for f in (out / ".work" / "a_bikes040.png").glob("*__*.json") if not f.name.startswith("jrd__")]
    assert len(done) == 8  # the first picture finished before the run broke off
    (small_picture / "z_corrupt.jpg").unlink()
    code, text = _bench(str(small_picture), *args)
    assert code == 0, text
    run = json.loads((out / "summary.json").read_text())["run"]
    assert (run["points_computed"], run["points_resumed"]) == (0, 8)
    first = (out / "points.csv").read_text()
    shutil.rmtree(out / ".work")  # only the encode cache is left: every point is decoded again, nothing encoded
    code, text = _bench(str(small_picture), *args)
    assert code == 0, text
    run = json.loads((out / "summary.json").read_text())["run"]
    assert run["points_computed"] == 8 and run["fresh_encodes"] == 0
    assert (out / "points.csv").read_text() == first


def test_workers_give_the_same_points(small_picture, tmp_path, bus_jpg):
    shutil.copyfile(bus_jpg, small_picture / "bus.jpg")
    args = ["--jrd", "prior", "--qps", "37,47", "--offsets=0", "--modes", "plain,objects"]
    a, b = tmp_path / "one", tmp_path / "two"
    assert _bench(str(small_picture), "-o", str(a), *args)[0] == 0
    assert _bench(str(small_picture), "-o", str(b), "--workers", "2", *args)[0] == 0
    assert (a / "points.csv").read_text() == (b / "points.csv").read_text()
    assert (a / "detections.json").read_text() == (b / "detections.json").read_text()


def test_coco_ground_truth_file_matches_pseudo_ground_truth(report, tmp_path):
    """--gt with a COCO file holding the originals' detections scores exactly like the pseudo ground truth."""
    from vcm.pipelines.benchmark import summarize
    from vcm.gt import detections_to_coco
    from vcm.types import Detection, Detections

    out, _ = report
    pics = json.loads((out / "detections.json").read_text())["pictures"]
    coco = detections_to_coco([(f"some/dir/{k}", Detections(v["width"], v["height"],
                                                            tuple(Detection.from_json(d) for d in v["original"])))
                               for k, v in sorted(pics.items())],
                              dont_care={f"some/dir/{k}": Detections(v["width"], v["height"], tuple(
                                  Detection.from_json(d) for d in v["dont_care"])) for k, v in pics.items()})
    coco["images"].append({"id": 99, "file_name": "not_in_the_set.jpg", "width": 10, "height": 10})
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco))
    with_gt = summarize(out, gt)
    pseudo = summarize(out)
    assert with_gt.to_json()["curves"] == pseudo.to_json()["curves"]
    assert with_gt.ground_truth.startswith("COCO file")
    bad = tmp_path / "bad.json"
    coco["images"] = coco["images"][:1]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] == coco["images"][0]["id"]]
    bad.write_text(json.dumps(coco))
    from vcm.errors import VcmError

    with pytest.raises(VcmError, match="no entry in the ground truth"):
        summarize(out, bad)


@pytest.mark.parametrize("args, words", [
    (["--qps", "32"], "at least 2 QPs"),
    (["--qps", "32,70"], "outside 0..63"),
    (["--modes", "plain,bogus"], "unknown mode"),
    (["--jrd", "nosuch"], "unknown JRD predictor"),
    (["--detector", "nosuch"], "unknown detector"),
    (["--jrd", "dtjrd:missing.pt"], "checkpoint not found"),
    (["--floors", "40,65"], "QP floor 65 is outside 0..64"),
])
def test_bad_settings_are_one_line_errors(small_picture, tmp_path, args, words):
    code, text = _bench(str(small_picture), "-o", str(tmp_path / "r"), *args)
    assert code == 2 and words in text and len(text.strip().splitlines()) == 1, text
    assert not (tmp_path / "r").exists()  # nothing written before the settings are known to work


def test_bad_data_folder(tmp_path):
    code, text = _bench(str(tmp_path / "missing"), "-o", str(tmp_path / "r"))
    assert code == 2 and "no such folder" in text
    (tmp_path / "empty").mkdir()
    code, text = _bench(str(tmp_path / "empty"), "-o", str(tmp_path / "r"))
    assert code == 2 and "no pictures" in text
    assert not (tmp_path / "r").exists()


def test_help_shows_an_example():
    res = CliRunner().invoke(main, ["benchmark", "--help"])
    assert res.exit_code == 0 and "Examples:" in res.output and "vcm benchmark pictures/ -o report" in res.output


def test_report_writers_round_trip(tmp_path):
    """points.csv keeps every bit of a float and reads back into the same rows."""
    from vcm.metrics.rd import PointRow
    from vcm.report import read_points_csv, write_points_csv

    rows = [PointRow("a.png", "plain", "vvc", "qp37", 37, None, None, 33, 17, 123, 8 * 123 / (33 * 17), 2, 1, 0.5,
                     0.1 + 0.2, 37, 37),
            PointRow("a.png", "objects", "prior", "off-4_bg47", None, -4, 47, 33, 17, 99, 8 * 99 / (33 * 17), 0, 0,
                     1.0, float(np.float64(1) / 3), 30, 47)]
    write_points_csv(tmp_path / "p.csv", rows)
    assert read_points_csv(tmp_path / "p.csv") == rows


@pytest.fixture(scope="module")
def bundled_report(tmp_path_factory) -> tuple[Path, str, int]:
    """The published configuration on the 16 bundled pictures (docs/BENCHMARKS.md)."""
    root = tmp_path_factory.mktemp("bundled")
    pics = _tool().write_bundled_set(root / "pictures")
    out = root / "report"
    code, text = _bench(str(root / "pictures"), "-o", str(out), *_tool().PUBLISHED)
    assert code == 0, text
    return out, text, len(pics)


@pytest.mark.slow
def test_bundled_set_full_benchmark(bundled_report):
    """Every curve reported and reproducible from the files; on the JRD criterion itself (objects still
    detected) the oracle `objects` mode needs fewer bits than plain VVC."""
    from vcm.pipelines.benchmark import summarize

    out, text, n = bundled_report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pictures"] == n == 16
    assert set(summary["bd_rate"]) == {"frame/search", "frame/prior", "objects/search", "objects/prior"}
    lines = [ln for ln in text.strip().splitlines() if " (mAP@0.5:0.95): BD-rate " in ln]
    assert [ln.split(" (")[0] for ln in lines] == list(summary["bd_rate"])  # "curve (quality): BD-rate ..."
    again = summarize(out)
    assert json.loads(json.dumps(again.bd["bd_rate"])) == summary["bd_rate"]
    assert json.loads(json.dumps(again.bd["bd_rate_kept"])) == summary["bd_rate_kept"]
    kept = summary["bd_rate_kept"]["objects/search"]
    assert kept["pchip"] is not None and kept["pchip"] < 0, kept


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "measured with hog-person on the 16 bundled pictures: n/a at this commit (a negative number with the plan of "
    "an hour earlier); mAP@0.5 against HOG's pseudo ground truth of 8 objects is not monotone in rate and overlaps "
    "plain VVC's range too little for a stable BD-rate. strict: this fails as soon as the claim holds, to drop the "
    "marker."))
def test_bundled_set_oracle_objects_mode_beats_plain_vvc_on_map(bundled_report):
    """The issue's claim: the oracle `objects` mode has a negative BD-rate (bpp vs mAP@0.5) against plain VVC."""
    out, _, _ = bundled_report
    oracle = json.loads((out / "summary.json").read_text())["bd_rate"]["objects/search"]
    assert oracle["pchip"] is not None and oracle["pchip"] < 0, oracle


def _tool():
    import importlib.util

    path = Path(__file__).parents[1] / "tools" / "bench_benchmark.py"
    spec = importlib.util.spec_from_file_location("bench_tool", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_tool_writes_the_bundled_pictures_and_the_table(report, tmp_path, capsys):
    from vcm.detect import create_detector
    from vcm.media import read_picture

    tool = _tool()
    assert tool.main(["pictures", str(tmp_path / "p")]) == 0
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["astronaut.png"] + [f"bikes{i:03d}.png" for i in range(0, 241, 20)] + ["bus.jpg", "zidane.jpg"]
    assert capsys.readouterr().out.count("\n") == 16
    det = create_detector("hog-person")
    found = sum(len(det.detect_one(read_picture(tmp_path / "p" / n))) for n in ("bus.jpg", "bikes040.png"))
    assert found >= 2  # the set has people the offline detector finds
    table = tool.markdown(report[0])
    assert "| objects/search |" in table and "| plain/vvc | qp32 |" in table


def test_background_qps_give_objects_points_each(small_picture, tmp_path):
    out = tmp_path / "r"
    code, text = _bench(str(small_picture), "-o", str(out), "--jrd", "prior", "--qps", "37,47", "--offsets=0",
                        "--modes", "plain,frame,objects", "--bg-qps", "51,47")
    assert code == 0, text
    rows = _rows(out / "points.csv")
    assert sorted((r["mode"], r["point"], r["bg_qp"]) for r in rows if r["mode"] != "plain") == [
        ("frame", "off+0", ""), ("objects", "off+0_bg47", "47"), ("objects", "off+0_bg51", "51")]
    objs = {r["point"]: r for r in rows if r["mode"] == "objects"}
    for pid, bg in (("off+0_bg47", 47), ("off+0_bg51", 51)):  # objects at their QPs on that background, or the
        r = objs[pid]  # plain fallback at the lowest object QP when that is cheaper
        plain = r["chosen"].startswith("plain")  # plain VVC that keeps every object, when smaller
        assert (r["chosen"] == f"objects@{bg}" or plain) and int(r["max_qp"]) == (int(r["min_qp"]) if plain else bg)
    assert int(objs["off+0_bg47"]["bytes"]) >= int(objs["off+0_bg51"]["bytes"])  # a finer background costs bits


def test_killed_run_resumes_to_the_same_report(tmp_path, bus_jpg, bikes_mp4):
    """SIGKILL in the middle of a run: every .work file left is whole, and the rerun finishes with exactly the
    report of a run that was never interrupted."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pics = tmp_path / "pics"
    pics.mkdir()
    shutil.copyfile(bus_jpg, pics / "bus.jpg")
    _bikes_frame(bikes_mp4, 40, pics / "bikes040.png")
    args = ["--jrd", "prior", "--qps", "22,27,32,37,42,47", "--offsets=-4,0,4", "--modes", "plain,objects"]
    out = tmp_path / "killed"
    cmd = [sys.executable, "-c", "from vcm.cli import main; main()", "benchmark", str(pics), "-o", str(out), *args]
    proc = subprocess.Popen(cmd + ["--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ), start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if len([f for f in out.glob(".work/*/*__*.json") if not f.name.startswith(("jrd__", "."))]) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    records = [f for f in out.glob(".work/*/*.json") if not f.name.startswith(".")]
    for f in records:
        json.loads(f.read_text())  # whole JSON, never a torn write (a killed write leaves only its temp file)
    assert not (out / "points.csv").exists()
    code, text = _bench(str(pics), "-o", str(out), *args)
    assert code == 0, text
    run = json.loads((out / "summary.json").read_text())["run"]
    assert not [f for f in (out / ".work").rglob(".*") if ".tmp" in f.name]  # the rerun swept the temp files
    assert run["points_resumed"] >= 3 and run["points_computed"] >= 1
    assert run["points_resumed"] + run["points_computed"] == 2 * (6 + 3)
    fresh = tmp_path / "fresh"
    assert _bench(str(pics), "-o", str(fresh), *args)[0] == 0
    for name in ("points.csv", "curves.csv", "detections.json"):
        assert (out / name).read_text() == (fresh / name).read_text(), name


def test_code_change_redoes_points_from_the_encode_cache(small_picture, tmp_path, monkeypatch):
    import vcm.pipelines.benchmark as bench

    args = ["-o", str(tmp_path / "r"), "--jrd", "prior", "--qps", "37,47", "--offsets=0", "--modes", "plain,objects"]
    assert _bench(str(small_picture), *args)[0] == 0
    first = (tmp_path / "r" / "points.csv").read_text()
    assert _bench(str(small_picture), *args)[0] == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["run"]["points_computed"] == 0
    monkeypatch.setattr(bench, "code_digest", lambda: "another vcm")
    assert _bench(str(small_picture), *args)[0] == 0
    run = json.loads((tmp_path / "r" / "summary.json").read_text())["run"]
    assert run["points_computed"] == 3 and run["fresh_encodes"] == 0
    assert (tmp_path / "r" / "points.csv").read_text() == first


def test_blur_mode_is_one_standard_stream(small_picture, tmp_path):
    out = tmp_path / "r"
    code, text = _bench(str(small_picture), "-o", str(out), "--jrd", "fixed:40", "--qps", "40,50", "--offsets=0",
                        "--modes", "blur")
    assert code == 0, text
    rows = {(r["mode"], r["point"]): r for r in _rows(out / "points.csv")}
    assert set(rows) == {("plain", "qp40"), ("plain", "qp50"), ("blur", "off+0")}  # plain always runs: the anchor
    blur = rows[("blur", "off+0")]
    assert blur["min_qp"] == blur["max_qp"]  # one stream: the whole picture at one QP
    if blur["chosen"] == "blur":  # the whole picture at the (lowest) object QP, the blurred background cheaper
        assert blur["min_qp"] == "40" and int(blur["bytes"]) < int(rows[("plain", "qp40")]["bytes"])
    else:  # or plain VVC at a coarser QP that keeps every object, when that is smaller still
        assert blur["chosen"].startswith("plain@") and int(blur["min_qp"]) > 40
    last = text.strip().splitlines()[-1]  # every BD line carries its quality, point counts and reason
    assert last.startswith("blur/fixed:40 (mAP@0.5:0.95): BD-rate n/a (") and "points anchor 2->" in last
