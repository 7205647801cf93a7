"""Composed DT-JRD training pictures (vcm.jrd.compose) and the dataset build's split (tools/build_jrd_dataset.py),
on the real fetched photos (`vcm weights fetch photos`; a missing set fails with that command)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from vcm.jrd.compose import SIZES, compose_picture, load_parts

REPO = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("build_jrd_dataset", REPO / "tools/build_jrd_dataset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def parts():
    from vcm.photos import dtjrd_pictures

    pics = dtjrd_pictures()
    return load_parts(pics["train"][:12], pics["cutouts"][::40])


def test_composed_pictures_repeat_by_seed_and_vary_by_index(parts):
    bgs, cuts = parts
    a, b = compose_picture(bgs, cuts, 7, 3), compose_picture(bgs, cuts, 7, 3)
    assert np.array_equal(a.rgb, b.rgb) and a.record() == b.record()
    others = [compose_picture(bgs, cuts, 7, i) for i in range(12)] + [compose_picture(bgs, cuts, 8, 3)]
    assert sum(np.array_equal(a.rgb, o.rgb) for o in others) == 1  # only index 3 of seed 7 itself
    sides = set()
    for c in others:
        h, w = c.rgb.shape[:2]
        assert (w, h) in SIZES and c.rgb.dtype == np.uint8 and c.rgb.shape[2] == 3
        assert 1 <= len(c.pastes) <= 3 and c.background in {i for i, _ in bgs}
        for p in c.pastes:
            x1, y1, x2, y2 = p["box"]
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h and p["cutout"] in {i for i, _ in cuts}
            sides.add(max(x2 - x1, y2 - y1) / min(w, h))
    assert min(sides) < 0.3 and max(sides) > 0.5  # varied sizes


def test_build_split_never_reads_the_benchmark_part_and_composes_on_train_photos_only(tmp_path):
    from vcm.photos import load_split, split_photos

    info = _tool().write_pictures(tmp_path, composed=3, seed=0)
    split = load_split()["pictures"]
    rows = info["pictures"]
    natural = [r for r in rows if "composed" not in r]
    assert {split[r["id"]]["split"] for r in natural if r["split"] == "test"} == {"val"}
    assert {split[r["id"]]["split"] for r in natural if r["split"] in ("train", "val")} == {"train"}
    assert not any(split[r["id"]]["split"] == "benchmark" for r in natural)
    assert sorted(r["name"] for r in natural if r["split"] == "test") == sorted(p.name for p in split_photos("val"))
    scenes = {s: {r["scene"] for r in natural if r["split"] == s} for s in ("train", "val")}
    assert scenes["train"] and scenes["val"] and not scenes["train"] & scenes["val"]  # by scene
    train_ids = {r["id"] for r in natural if r["split"] == "train"}
    composed = [r for r in rows if "composed" in r]
    assert len(composed) == 3 and all(r["split"] == "train" and r["composed"]["background"] in train_ids
                                      for r in composed)
    assert (tmp_path / "pictures" / "composed-000" / composed[0]["name"]).is_file()
    assert json.loads((tmp_path / "split.json").read_text())["groups"] == ["test", "val", "train", "train-1", "composed-000"]
    # a rerun keeps the pictures and writes the same split
    again = _tool().write_pictures(tmp_path, composed=3, seed=0)
    assert again["pictures"] == rows


def test_stopping_the_build_stops_its_labeller(tmp_path):
    """`kill` of tools/build_jrd_dataset.py stops the `vcm label` it runs (an orphan went on labelling the group
    beside the rerun that resumed it)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    driver = (f"import importlib.util, os, sys; spec = importlib.util.spec_from_file_location('b', "
              f"{str(REPO / 'tools/build_jrd_dataset.py')!r}); m = importlib.util.module_from_spec(spec); "
              f"spec.loader.exec_module(m); m.run_child([sys.executable, '-c', {child!r}], dict(os.environ))")
    tool = subprocess.Popen([sys.executable, "-c", driver])
    for _ in range(300):
        if pid_file.is_file() and pid_file.read_text():
            break
        time.sleep(0.1)
    grandchild = int(pid_file.read_text())
    os.kill(tool.pid, signal.SIGTERM)
    assert tool.wait(timeout=60) != 0  # stopped, not finished
    for _ in range(100):
        if not Path(f"/proc/{grandchild}").exists() or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        os.kill(grandchild, signal.SIGKILL)
        raise AssertionError("the labeller outlived the build tool")
