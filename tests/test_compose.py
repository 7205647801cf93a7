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
