"""`vcm label` and `vcm benchmark` on Ray (`--executor ray`), through the runner `vcm batch` uses (vcm.runner):
a local Ray gives the labels and the points the local executor gives; a bad --ray-address is a one-line error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vcm.cli import main



def _run(*args: str):
    return CliRunner().invoke(main, [*args], catch_exceptions=False)


@pytest.fixture(scope="module")
def one_picture(tmp_path_factory, bus_jpg) -> Path:
    import cv2

    from vcm.media import read_picture, write_picture

    d = tmp_path_factory.mktemp("ray_pics")
    write_picture(d / "bus.png", cv2.resize(read_picture(bus_jpg), (240, 320), interpolation=cv2.INTER_AREA))
    return d


def _labels(ds: Path) -> dict:
    return {o["name"]: (o["jrd"], o["detected"]) for p in sorted((ds / ".work").glob("*.json"))
            for o in json.loads(p.read_text())["objects"]}


def test_label_on_a_local_ray_gives_the_local_labels(one_picture, tmp_path):
    common = ["--detector", "hog-person", "--qps", "36-63", "--qp-step", "3", "--window", "2", "-q"]
    local, ray = tmp_path / "local", tmp_path / "ray"
    r1 = _run("label", str(one_picture), "-o", str(local), *common)
    r2 = _run("label", str(one_picture), "-o", str(ray), *common, "--executor", "ray", "--workers", "1")
    assert r1.exit_code == r2.exit_code == 0, r1.output + r2.output
    assert _labels(local) == _labels(ray) and any(j is not None for j, _ in _labels(local).values())
    assert (local / "JRD_info.json").read_text() == (ray / "JRD_info.json").read_text()
    # a rerun on Ray resumes: nothing labelled again
    r3 = _run("label", str(one_picture), "-o", str(ray), *common, "--executor", "ray")
    assert r3.exit_code == 0 and "0 labelled now, 1 from an earlier run" in r3.output


def test_benchmark_on_a_local_ray_gives_the_local_points(one_picture, tmp_path):
    args = ["--jrd", "prior", "--qps", "37,47", "--offsets=0", "--modes", "plain,objects", "--no-span",
            "--baseline", "none", "--quiet"]
    a, b = tmp_path / "local", tmp_path / "ray"
    r1 = _run("benchmark", str(one_picture), "-o", str(a), *args)
    r2 = _run("benchmark", str(one_picture), "-o", str(b), *args, "--executor", "ray", "--workers", "1")
    assert r1.exit_code == r2.exit_code == 0, r1.output + r2.output
    assert (a / "points.csv").read_text() == (b / "points.csv").read_text()
    assert (a / "detections.json").read_text() == (b / "detections.json").read_text()


@pytest.mark.parametrize("cmd", ["label", "benchmark", "batch"])
def test_bad_ray_settings_are_one_line_errors_before_anything_is_written(one_picture, tmp_path, cmd):
    out = tmp_path / "out"
    extra = ["--jrd", "prior"] if cmd == "benchmark" else []
    r = _run(cmd, str(one_picture), "-o", str(out), *extra, "--executor", "ray", "--ray-address", "127.0.0.1:9")
    assert r.exit_code == 2 and "cannot reach the Ray cluster at 127.0.0.1:9" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not out.exists()
    r = _run(cmd, str(one_picture), "-o", str(out), *extra, "--ray-address", "127.0.0.1:9")
    assert r.exit_code == 2 and "--ray-address needs --executor ray" in r.output and not out.exists()
