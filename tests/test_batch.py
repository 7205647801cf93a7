"""`vcm batch` (vcm/pipelines/batch.py): a real folder of pictures, one short video and one corrupt file; resume
after a kill; the Ray executor against the local one."""
from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from vcm.cli import main
from vcm.media import read_picture, read_video_rgb, write_picture, write_video_lossless

ARGS = ["--jrd", "prior", "--intra-period", "4", "--detector", "hog-person", "--quiet"]  # HOG: people in these bikes frames


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def digest_tree(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, bus_jpg, zidane_jpg, astronaut_png, bikes_mp4):
    """pictures at two levels, one 4-frame video, a corrupt picture and a file that is not media."""
    root = tmp_path_factory.mktemp("batch") / "in"
    (root / "street" / "more").mkdir(parents=True)
    bus = read_picture(bus_jpg)
    write_picture(root / "street" / "bus_top.png", bus[:540:2, ::2])
    write_picture(root / "street" / "more" / "zidane.jpg", read_picture(zidane_jpg)[::2, ::2])
    write_picture(root / "astronaut.png", read_picture(astronaut_png))
    frames, fps = read_video_rgb(bikes_mp4, 68)
    write_video_lossless(root / "street" / "bikes.mkv", frames[64:68], fps)
    (root / "broken.jpg").write_bytes(bus_jpg.read_bytes()[:2000])
    (root / "notes.txt").write_text("not a picture\n")
    return root


def test_batch_codes_a_folder_mirrored_with_a_manifest_and_resumes(dataset, tmp_path):
    from vcm.coding.modes import read_coded_file
    from vcm.coding.video import decode_video_file

    before = digest_tree(dataset)
    out = tmp_path / "out"
    r = run("batch", dataset, "-o", out, *ARGS)
    assert r.exit_code == 1, r.output  # one item failed
    rows = manifest(out)
    assert list(rows[0]) == ["input", "output", "status", "bytes", "plain_bytes", "saving", "detected", "to_keep",
                             "kept", "lost", "seconds", "error"]
    by = {row["input"]: row for row in rows}
    assert sorted(by) == ["astronaut.png", "broken.jpg", "street/bikes.mkv", "street/bus_top.png",
                          "street/more/zidane.jpg"]
    assert by["broken.jpg"]["status"] == "failed" and "broken.jpg" in by["broken.jpg"]["error"]
    assert not (out / "broken.266").exists()
    for name, row in by.items():
        if name == "broken.jpg":
            continue
        assert row["status"] == "ok" and row["error"] == ""
        f = out / row["output"]
        assert row["output"] == str(Path(name).with_suffix(".266")) and int(row["bytes"]) == f.stat().st_size
    frames, vf = decode_video_file(out / "street" / "bikes.266")
    assert len(frames) == 4 and vf.width == 640
    pic, _ = read_coded_file(out / "street" / "bus_top.266")
    assert (pic.display_size) == (405, 270)
    assert int(by["street/bikes.mkv"]["to_keep"]) >= 4  # HOG boxes over the detected frames
    assert "1 failed" in r.output and "broken.jpg" in r.output
    assert digest_tree(dataset) == before  # inputs never touched

    outputs = digest_tree(out / "street")
    r = run("batch", dataset, "-o", out, *ARGS)
    assert r.exit_code == 1
    status = {row["input"]: row["status"] for row in manifest(out)}
    assert status == {"astronaut.png": "skipped", "broken.jpg": "failed", "street/bikes.mkv": "skipped",
                      "street/bus_top.png": "skipped", "street/more/zidane.jpg": "skipped"}
    assert digest_tree(out / "street") == outputs  # nothing redone

    # a changed input is redone; other settings redo everything
    os.utime(dataset / "astronaut.png")
    run("batch", dataset, "-o", out, *ARGS)
    assert {row["input"]: row["status"] for row in manifest(out)}["astronaut.png"] == "ok"
    r = run("batch", dataset, "-o", out, *ARGS, "--bg-qp", "50")
    assert sum(row["status"] == "ok" for row in manifest(out)) == 4


def test_batch_errors(tmp_path):
    r = run("batch", tmp_path / "missing", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "no such folder" in r.output
    (tmp_path / "empty").mkdir()
    r = run("batch", tmp_path / "empty", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "no pictures or videos" in r.output
    r = run("batch", tmp_path / "empty", "-o", tmp_path / "o", "--mode", "plain")
    assert r.exit_code == 2 and "--qp" in r.output


def test_resume_after_kill_loses_nothing_and_redoes_nothing(tmp_path, bus_jpg):
    """Kill the batch (SIGKILL, the whole process group) once some items are done; the manifest then lists
    exactly the finished items, each with its whole output, and a rerun skips them and codes the rest."""
    src = tmp_path / "in"
    src.mkdir()
    bus = read_picture(bus_jpg)
    for k in range(8):  # eight different pictures (the encode cache cannot make them free)
        write_picture(src / f"crop{k}.png", bus[40 * k:40 * k + 480, 20 * k:20 * k + 400])
    out = tmp_path / "out"
    code = "import sys; from vcm.cli import main; sys.argv[0] = 'vcm'; main()"
    cmd = [sys.executable, "-c", code, "batch", str(src), "-o", str(out), "--jrd", "prior", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    done: list[dict[str, str]] = []
    while time.time() < deadline and proc.poll() is None:
        try:
            done = [r for r in manifest(out) if r["status"] == "ok"]
        except (OSError, KeyError):
            done = []
        if len(done) >= 2:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    rows = manifest(out)
    ok = {r["input"] for r in rows if r["status"] == "ok"}
    assert 2 <= len(ok) < 8, "the run should be killed half way"
    for r in rows:
        assert r["status"] == "ok"
        assert (out / r["output"]).stat().st_size == int(r["bytes"])
    finished = {r["input"]: (out / r["output"]).stat().st_mtime_ns for r in rows}

    r = run("batch", src, "-o", out, "--jrd", "prior", "--quiet")
    assert r.exit_code == 0, r.output
    status = {row["input"]: row["status"] for row in manifest(out)}
    assert len(status) == 8
    assert {k for k, v in status.items() if v == "skipped"} == ok
    assert all(v == "ok" for k, v in status.items() if k not in ok)
    assert all((out / Path(k).with_suffix(".266")).stat().st_mtime_ns == t for k, t in finished.items())
    assert not [p for p in out.rglob(".*") if p.is_file() and ".tmp" in p.name]  # no temp file left


def test_ray_executor_writes_the_same_manifest_as_local(dataset, tmp_path):
    pytest.importorskip("ray")
    local, remote = tmp_path / "local", tmp_path / "ray"
    run("batch", dataset, "-o", local, *ARGS, "--workers", "2")
    r = run("batch", dataset, "-o", remote, *ARGS, "--workers", "2", "--executor", "ray")
    assert r.exit_code == 1, r.output

    def cols(out):
        return [{k: row[k] for k in ("input", "output", "status", "bytes", "detected", "to_keep")} for row in manifest(out)]

    assert cols(remote) == cols(local)
    a, b = digest_tree(local), digest_tree(remote)
    for k in a:
        if k.endswith(".266"):
            assert a[k][0] == b[k][0], k  # the same bytes
    import json

    s = json.loads((remote / "summary.json").read_text())
    assert s["executor"] == "ray" and s["ok"] == 4 and s["failed"] == 1
    assert 1 <= len(s["worker_pids"]) <= 2 and os.getpid() not in s["worker_pids"]  # ran in Ray workers


def test_bench_batch_tool_runs(capsys):
    """tools/bench_batch.py end to end on 2 pictures (its numbers go to docs/BENCHMARKS.md)."""
    import importlib.util

    tool = Path(__file__).resolve().parents[1] / "tools" / "bench_batch.py"
    spec = importlib.util.spec_from_file_location("bench_batch", tool)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cache = os.environ.get("VCM_CACHE_DIR")
    try:
        assert mod.main(["--pictures", "2"]) == 0
    finally:
        if cache is not None:
            os.environ["VCM_CACHE_DIR"] = cache
    out = capsys.readouterr().out
    assert "| 1 |" in out and "| 2 |" in out and "pictures/min" in out
