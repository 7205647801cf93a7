"""`vcm label`: the label rule and its smart search (pure), then real runs: real pictures, the real
libvvenc encoder and decoder, through the CLI. The runs built around its behaviour on these pictures use the
offline hog-person detector explicitly (`--detector hog-person`; the default is nanodet); one run with the
default detector checks that detections under the keep score are listed, not labelled.

QP ranges are reduced to keep the default suite fast; the full 0..63 comparison is marked slow.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vcm import labeling as L
from vcm.metrics.match import MATCH_IOU

# --- the rule and the search, on vectors ---------------------------------------------------------------------


def test_rule_on_hand_made_vectors():
    qps = list(range(20, 36))
    v = [True] * 5 + [False] * 2 + [True] * 2 + [False] * 7  # a 2-QP loss is noise; the final 7 reach the end
    assert L.label_from_values(qps, v, 8) == L.ObjectLabel(L.LABELLED, 28)
    v = [True] * 3 + [False] * 8 + [True] * 5  # 8 lost in a row: the later detections do not count
    assert L.label_from_values(qps, v, 8) == L.ObjectLabel(L.LABELLED, 22)
    assert L.label_from_values(qps, [True] * 15 + [False], 8) == L.ObjectLabel(L.LABELLED, 34)
    assert L.label_from_values(qps, [True] * 16, 8) == L.ObjectLabel(L.NEVER_LOST, 35)
    assert L.label_from_values(qps, [False] * 8 + [True] * 8, 8) == L.ObjectLabel(L.DROPPED, None)
    # lost at the lowest QP only: noise, not dropped
    assert L.label_from_values(qps, [False] + [True] * 15, 8) == L.ObjectLabel(L.NEVER_LOST, 35)
    # a QP that cannot be coded is left out, as if not asked for
    v = [None, True, True] + [False] * 13
    assert L.label_from_values(qps, v, 8) == L.ObjectLabel(L.LABELLED, 22)
    assert L.label_from_values(qps, [None] * 16, 8) == L.ObjectLabel(L.UNCODED, None)


def test_rule_at_the_top_of_the_list():
    """The edge cases of the top: a window cut by the end counts when every QP left is lost, the top QP excepted
    (a detection there alone cannot end a loss: nothing above it confirms it)."""
    qps = list(range(48, 64))
    bus = [True] * 9 + [False] * 6 + [True]  # found up to 56, lost at 57-62, found again at 63 (bus.jpg's bus)
    assert L.label_from_values(qps, bus, 8) == L.ObjectLabel(L.LABELLED, 56)
    assert L.label_from_values(qps, [True] * 14 + [False, True], 8) == L.ObjectLabel(L.LABELLED, 61)
    assert L.label_from_values(qps, [True] * 13 + [False, True, True], 8) == L.ObjectLabel(L.NEVER_LOST, 63)
    assert L.label_from_values(qps, [True] * 16, 8) == L.ObjectLabel(L.NEVER_LOST, 63)
    assert L.label_from_values(qps, [False] * 15 + [True], 8) == L.ObjectLabel(L.DROPPED, None)
    # a top QP the encoder cannot code is left out: the highest coded QP is the top
    assert L.label_from_values(qps, [True] * 13 + [False, True, None], 8) == L.ObjectLabel(L.LABELLED, 60)
    assert L.label_from_values(qps, [True] * 15 + [None], 8) == L.ObjectLabel(L.NEVER_LOST, 62)
    # one QP in the list: found there is never lost, lost there is dropped
    assert L.label_from_values([63], [True], 8) == L.ObjectLabel(L.NEVER_LOST, 63)
    assert L.label_from_values([63], [False], 8) == L.ObjectLabel(L.DROPPED, None)
    for v in (bus, [True] * 14 + [False, True], [True] * 13 + [False, True, None]):  # the smart search agrees
        assert L.smart_search(1, qps, lambda asked: {q: None if v[q - 48] is None else [v[q - 48]] for q in asked},
                              8)[0] == \
            [L.label_from_values(qps, v, 8)]


def test_smart_search_equals_full_sweep_on_random_vectors():
    rng = np.random.default_rng(7)
    saved = []
    for _ in range(1500):
        n = int(rng.integers(1, 65))
        qps = sorted(rng.choice(64, n, replace=False).tolist())
        nobj, window = int(rng.integers(1, 5)), int(rng.integers(1, 11))
        cut = rng.uniform(0, 1.3, nobj)
        noise = rng.uniform(0, 0.3)
        table = {}
        for q in qps:  # mostly detected below a cut QP, lost above, with flips; sometimes not codable
            table[q] = None if rng.uniform() < 0.05 else [
                bool((q / 63 < c) ^ (rng.uniform() < noise)) for c in cut]
        calls: list[int] = []
        ahead_all: list[int] = []

        def probe(asked, ahead=()):
            calls.extend(asked)
            ahead_all.extend(ahead)
            assert not set(ahead) & set(asked)
            return {q: table[q] for q in asked}

        smart, got = L.smart_search(nobj, qps, probe, window, speculate=bool(rng.integers(2)))
        full, _ = L.full_sweep(nobj, qps, lambda asked: {q: table[q] for q in asked}, window)
        assert smart == full, (qps, table, window)
        assert len(calls) == len(set(calls))  # no QP coded twice
        for o, lab in enumerate(full):
            if lab.jrd is not None:
                assert table[lab.jrd][o] is True  # detected at its own label
            # the per-QP string of the smart search agrees with the table wherever it probed
            s = L.detected_string(got, o)
            for q in range(64):
                if s[q] != ".":
                    assert s[q] == ("!" if table[q] is None else "1" if table[q][o] else "0")
        saved.append(len(calls) / n)
    assert np.mean(saved) < 0.8  # it does save codings


def test_parse_qps():
    assert L.parse_qps("0-63") == list(range(64))
    assert L.parse_qps("10-20", 4) == [10, 14, 18, 20]
    assert L.parse_qps("37,22, 27") == [22, 27, 37]
    for bad in ("0-64", "30-20", "a-b", ""):
        with pytest.raises(L.VcmError):
            L.parse_qps(bad)
    with pytest.raises(L.VcmError):
        L.parse_qps("0-63", 0)


def test_picture_names_are_unique_and_safe():
    names = L.picture_names(["a.jpg", "a.png", "sub/b c.jpg", "sub/d.JPG"])
    assert len(set(names)) == 4
    assert names[2] == "sub__b_c" and names[3] == "sub__d"
    assert names[0].startswith("a-") and names[1].startswith("a-")
    assert L.picture_names(["a.png", "a.jpg"]) == names[1::-1]  # independent of listing order


def test_split_by_picture():
    pics = [f"p{i:02d}" for i in range(20)]
    s = L.split_pictures(pics, seed=3)
    assert sorted(s["train"] + s["val"] + s["test"]) == pics
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (16, 2, 2)
    assert s == L.split_pictures(list(reversed(pics)), seed=3)
    assert s != L.split_pictures(pics, seed=4)
    assert {len(v) for v in L.split_pictures(pics[:3]).values()} == {1}
    assert L.split_pictures(pics[:1]) == {"train": ["p00"], "val": [], "test": []}
    assert [len(v) for v in L.split_pictures(pics[:2]).values()] == [1, 0, 1]  # val, test, train


# --- real runs -----------------------------------------------------------------------------------------------

QPS = "36-63"  # reduced range: one of bus.png's people is labelled inside it, the other and the astronaut are lost at
# once in the objects-mode probe (dropped)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, bus_jpg, astronaut_png) -> Path:
    """bus.jpg scaled to 480x640 (two people hog-person finds), the astronaut, and a corrupt JPEG."""
    import cv2

    from vcm.media import read_picture, write_picture

    d = tmp_path_factory.mktemp("label_pics")
    write_picture(d / "bus.png", cv2.resize(read_picture(bus_jpg), (480, 640), interpolation=cv2.INTER_AREA))
    shutil.copy(astronaut_png, d / "astronaut.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return d


def _label(*args: str):
    from vcm.cli import main

    if "--detector" not in args:
        args = ("--detector", "hog-person", *args)  # the runs here are built around what HOG finds
    return CliRunner().invoke(main, ["label", *args, "-q"], catch_exceptions=False)


def _records(ds: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((ds / ".work").glob("*.json"))}


def _labels(ds: Path) -> dict[str, int | None]:
    return {o["name"]: o["jrd"] for r in _records(ds).values() for o in r["objects"]}


@pytest.fixture(scope="module")
def full_run(pictures, tmp_path_factory) -> Path:
    ds = tmp_path_factory.mktemp("full") / "ds"
    r = _label(str(pictures), "-o", str(ds), "--qps", QPS, "--search", "full")
    assert r.exit_code == 1, r.output
    return ds


@pytest.fixture(scope="module")
def smart_run(pictures, full_run, tmp_path_factory):
    ds = tmp_path_factory.mktemp("smart") / "ds"
    r = _label(str(pictures), "-o", str(ds), "--qps", QPS)
    return ds, r


def test_corrupt_picture_is_reported_and_skipped(smart_run):
    ds, r = smart_run
    assert r.exit_code == 1
    assert "FAILED broken.jpg" in r.output and "cannot decode the picture" in r.output
    assert "pictures: 3 (2 labelled now, 0 from an earlier run, 1 failed" in r.output
    recs = _records(ds)
    assert sorted(recs) == ["astronaut", "bus"]
    meta = json.loads((ds / "meta.json").read_text())
    assert [f["picture"] for f in meta["counts"]["failed"]] == ["broken.jpg"]


def test_labels_in_range_and_dropped_objects_counted(smart_run):
    ds, _ = smart_run
    objs = [o for r in _records(ds).values() for o in r["objects"]]
    bus = _records(ds)["bus"]["objects"]
    assert bus and any(o["jrd"] is not None for o in bus)  # hog-person finds the walking man on bus.png
    info = json.loads((ds / "JRD_info.json").read_text())
    for o in objs:
        if o["status"] in (L.LABELLED, L.NEVER_LOST):
            assert 36 <= o["jrd"] <= 63 and info[o["name"]] == o["jrd"]
            assert (ds / "crops" / o["name"] / f"{o['name']}.png").is_file()
            assert (o["status"] == L.NEVER_LOST) == (o["jrd"] == 63 and o["detected"][63] == "1")
        elif o["status"] == L.BELOW_KEEP_SCORE:  # not an object to keep: never coded for, not labelled
            assert o["score"] < 0.5 and "keep score" in o["reason"] and o["detected"] == "." * 64
            assert o["jrd"] is None and o["name"] not in info and not (ds / "crops" / o["name"]).exists()
        else:
            assert o["status"] == L.DROPPED and o["jrd"] is None and o["name"] not in info
            assert o["detected"][36:44] == "0" * 8  # lost for a whole window at the lowest QPs
            assert not (ds / "crops" / o["name"]).exists()
    assert any(o["status"] == L.DROPPED for o in objs)  # the astronaut: hog-person loses it at once
    meta = json.loads((ds / "meta.json").read_text())
    assert meta["counts"]["dropped"] == sum(o["status"] == L.DROPPED for o in objs)
    assert meta["counts"]["below_keep_score"] == sum(o["status"] == L.BELOW_KEEP_SCORE for o in objs)
    assert meta["counts"]["crops"] == len(info) and meta["counts"]["objects"] == len(objs)


def test_each_label_is_checked_through_the_plan_choice(smart_run):
    """Every label is detected in the probe at its rule's label, and the file the plan choice writes with every
    object at its JRD keeps it (`verified`); a JRD under the rule's label says by how much it was lowered."""
    ds, _ = smart_run
    labelled = [o for o in _records(ds)["bus"]["objects"] if o["jrd"] is not None]
    assert labelled
    for o in labelled:
        assert o["detected"][o["rule_jrd"]] == "1"
        assert o["verified"] is True or o["jrd"] == 36  # kept, or at the lowest QP asked for
        assert o["jrd"] >= 36  # the lowering never goes below the lowest QP asked for
        assert o["rule_jrd"] - o["jrd"] == o.get("lowered_by_verify", 0) >= 0


def test_smart_search_equals_full_sweep(smart_run, full_run):
    ds, _ = smart_run
    assert _labels(ds) == _labels(full_run)
    smart, full = _records(ds), _records(full_run)
    for name in smart:
        assert smart[name]["codings"] <= full[name]["codings"] == (28 if full[name]["objects"] else 0)
        for so, fo in zip(smart[name]["objects"], full[name]["objects"]):
            assert "." not in fo["detected"][36:]
            assert all(a in (".", b) for a, b in zip(so["detected"], fo["detected"]))


def test_dataset_loads_in_the_training_reader(smart_run):
    from vcm.jrd.data import CropSamples, read_crop, read_dataset, require_crops

    ds, _ = smart_run
    data = read_dataset(ds)
    assert data.layout == "vcm" and data.labels == json.loads((ds / "JRD_info.json").read_text())
    assert sorted(sum(data.splits.values(), [])) == sorted(data.labels)
    require_crops(data, data.names("all"))
    for o in [o for o in _records(ds)["bus"]["objects"] if o["jrd"] is not None]:
        x1, y1, x2, y2 = o["box"]
        h, w = read_crop(data.crop_path(o["name"])).shape[:2]
        assert abs(w - (x2 - x1)) <= 2 and abs(h - (y2 - y1)) <= 2
    x, y = CropSamples(data, data.names("all"), 32, "stretch", (0.5,) * 3, (0.25,) * 3)[0]
    assert x.shape == (3, 32, 32) and 36 <= int(y) <= 63
    rows = (ds / "labels.csv").read_text().splitlines()
    assert rows[0].split(",") == list(__import__("vcm.pipelines.label", fromlist=["x"]).CSV_FIELDS)
    assert len(rows) == 1 + sum(len(r["objects"]) for r in _records(ds).values())
    meta = json.loads((ds / "meta.json").read_text())
    assert meta["detector"]["weights_sha256"] and meta["encoder"]["version"].startswith("ffmpeg")
    assert meta["qps"] == list(range(36, 64)) and meta["rule"]["iou"] == MATCH_IOU and meta["window"] == 8
    assert meta["command"].startswith("vcm label")


def test_resume_redoes_nothing_and_only_what_is_missing(smart_run, pictures, tmp_path):
    ds0, _ = smart_run
    ds = tmp_path / "ds"
    shutil.copytree(ds0, ds)
    before = {p.name: p.stat().st_mtime_ns for p in (ds / ".work").iterdir()}
    r = _label(str(pictures), "-o", str(ds), "--qps", QPS)
    assert r.exit_code == 1  # broken.jpg still fails
    assert "(0 labelled now, 2 from an earlier run, 1 failed" in r.output and "QPs probed this run: 0 " in r.output
    assert {p.name: p.stat().st_mtime_ns for p in (ds / ".work").iterdir()} == before
    # an interrupted run: the picture in progress has no result yet; only it is labelled again
    (ds / ".work" / "bus.json").unlink()
    r = _label(str(pictures), "-o", str(ds), "--qps", QPS)
    assert "(1 labelled now, 1 from an earlier run" in r.output
    assert _labels(ds) == _labels(ds0)
    # other settings: the picture is labelled again, and its stale results are replaced
    r = _label(str(pictures), "-o", str(ds), "--qps", "60-63")
    assert "(2 labelled now, 0 from an earlier run" in r.output
    assert all(o["detected"][:60] == "." * 60 for r in _records(ds).values() for o in r["objects"])


def test_workers_and_ground_truth_boxes(pictures, smart_run, tmp_path):
    """Two worker processes give the labels of one; COCO boxes are labelled instead of detections (other objects
    than the detections: other crops in every probe, so other labels may come out)."""
    ds0, _ = smart_run
    qps = "36-63"
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = _label(str(pictures), "-o", str(one), "--qps", qps, "--qp-step", "3", "--window", "2")
    r2 = _label(str(pictures), "-o", str(two), "--qps", qps, "--qp-step", "3", "--window", "2", "--workers", "2")
    assert r1.exit_code == r2.exit_code == 1
    assert _labels(one) == _labels(two) and any(v is not None for v in _labels(one).values())
    assert json.loads((one / "meta.json").read_text())["qps"] == [36, 39, 42, 45, 48, 51, 54, 57, 60, 63]

    bus = _records(ds0)["bus"]["objects"]
    coco = {"images": [{"id": 7, "file_name": "bus.png", "width": 480, "height": 640}],
            "categories": [{"id": 1, "name": "person"}, {"id": 6, "name": "bus"}],
            "annotations": [{"id": i + 1, "image_id": 7, "category_id": 1, "iscrowd": 0,
                             "bbox": [o["box"][0], o["box"][1], o["box"][2] - o["box"][0], o["box"][3] - o["box"][1]]}
                            for i, o in enumerate(bus)]
            + [{"id": 89, "image_id": 7, "category_id": 1, "bbox": [300, 20, 60, 140], "iscrowd": 0},  # no one there
               {"id": 90, "image_id": 7, "category_id": 6, "bbox": [10, 200, 460, 300], "iscrowd": 0},
               {"id": 91, "image_id": 7, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1}]}
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco))
    out = tmp_path / "gt_ds"
    r = _label(str(pictures), "-o", str(out), "--qps", qps, "--qp-step", "3", "--window", "2", "--gt", str(gt))
    assert r.exit_code == 0, r.output  # broken.jpg and astronaut.png have no annotations: skipped, not failed
    assert "skipped astronaut.png" in r.output and "skipped broken.jpg" in r.output
    objs = _records(out)["bus"]["objects"]
    assert [o["label"] for o in objs] == ["person"] * (len(bus) + 1) + ["bus"]  # the crowd region is left out
    assert objs[-1]["status"] == L.DROPPED and "class" in objs[-1]["reason"]  # hog-person finds no buses
    empty = objs[-2]  # a person box where there is no one: never found, dropped after coding
    assert empty["status"] == L.DROPPED and empty["detected"][36] == empty["detected"][39] == "0"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"]["dropped"] == 2 + sum(o["status"] == L.DROPPED for o in objs[:len(bus)])
    assert meta["rule"]["match_by"] == "label" and meta["gt"]["sha256"]
    # the detections' boxes, labelled as objects of this picture: every object is coded for (its crop in each
    # probe: a label depends on the picture's other objects, as the file `vcm encode` writes does), and a
    # label is detected in the probe at its rule's label
    assert all(o["detected"] != "." * 64 for o in objs[:len(bus) + 1])
    assert all(o["detected"][o["rule_jrd"]] == "1" for o in objs if o["jrd"] is not None)


def test_detections_below_the_keep_score_are_listed_not_labelled(pictures, tmp_path):
    """The default detector (nanodet) also returns boxes under the keep score (0.5) on these pictures: they
    are in labels.csv with their own status and a reason, never coded for, not labelled, no crop; the rest
    are labelled as usual."""
    import csv

    from vcm.settings import DEFAULT_DETECTOR

    ds = tmp_path / "ds"
    r = _label(str(pictures), "-o", str(ds), "--qps", "56-63", "--detector", DEFAULT_DETECTOR)
    assert r.exit_code == 1, r.output  # broken.jpg
    objs = [o for rec in _records(ds).values() for o in rec["objects"]]
    weak = [o for o in objs if o["score"] < 0.5]
    assert weak and len(weak) < len(objs)
    info = json.loads((ds / "JRD_info.json").read_text())
    rows = {row["name"]: row for row in csv.DictReader((ds / "labels.csv").open())}
    assert sorted(rows) == sorted(o["name"] for o in objs)
    for o in objs:
        if o["score"] < 0.5:
            assert o["status"] == rows[o["name"]]["status"] == L.BELOW_KEEP_SCORE
            assert "below the keep score 0.5" in o["reason"] and o["detected"] == "." * 64
            assert o["jrd"] is None and rows[o["name"]]["jrd"] == "" and o["name"] not in info
            assert not (ds / "crops" / o["name"]).exists()
        else:  # objects to keep are coded for: a label, or dropped only after coding
            assert o["status"] != L.BELOW_KEEP_SCORE and "reason" not in o
            assert o["detected"][:56] == "." * 56 and set(o["detected"][56:]) & {"0", "1"}
    assert any(o["jrd"] is not None for o in objs)
    meta = json.loads((ds / "meta.json").read_text())
    counts = meta["counts"]
    assert counts["below_keep_score"] == len(weak)
    # meta.json records the scores really used (none was given): the keep score and nanodet's threshold
    det_score = meta["detector"]["score_threshold"]
    assert meta["rule"]["keep_score"] == max(0.5, det_score) and meta["rule"]["min_score"] == det_score is not None
    assert counts["dropped"] == sum(o["status"] == L.DROPPED for o in objs)  # weak boxes are not "dropped"
    assert counts["crops"] == len(info) == sum(o["jrd"] is not None for o in objs)


def test_bad_inputs_are_one_line_errors(tmp_path, pictures):
    r = _label(str(tmp_path / "nope"), "-o", str(tmp_path / "ds"))
    assert r.exit_code == 2 and "not a folder of pictures" in r.output
    (tmp_path / "empty").mkdir()
    r = _label(str(tmp_path / "empty"), "-o", str(tmp_path / "ds"))
    assert r.exit_code == 2 and "no pictures found" in r.output
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    r = _label(str(pictures), "-o", str(tmp_path / "other"))
    assert r.exit_code == 2 and "not written by `vcm label`" in r.output
    r = _label(str(pictures), "-o", str(tmp_path / "ds"), "--qps", "50-70")
    assert r.exit_code == 2 and "not inside 0-63" in r.output


# --- one JRD per object across commands: the real nanodet on bus.jpg and zidane.jpg, QPs 0..63 ---------------

@pytest.fixture(scope="module")
def nanodet_labels(tmp_path_factory, bus_jpg, zidane_jpg, nanodet_weights):
    """`vcm label` with every default (nanodet, QPs 0-63, smart search) on the two pictures of the issue."""
    pics = tmp_path_factory.mktemp("nanodet_pics")
    shutil.copy(bus_jpg, pics / "bus.jpg")
    shutil.copy(zidane_jpg, pics / "zidane.jpg")
    ds = tmp_path_factory.mktemp("nanodet") / "ds"
    r = _label(str(pics), "-o", str(ds), "--detector", "nanodet")
    assert r.exit_code == 0, r.output
    return pics, ds


def test_label_predict_and_encode_give_one_jrd_per_object(nanodet_labels, tmp_path):
    """The same picture, rule and settings: `vcm label`, `vcm predict --jrd search` and `vcm encode --jrd search`
    give each object the same JRD (they run one computation, vcm.jrd.search); objects under the keep score get
    none anywhere."""
    from vcm.cli import main

    pics, ds = nanodet_labels
    recs = _records(ds)
    assert sorted(recs) == ["bus", "zidane"]
    for name, rec in recs.items():
        res = CliRunner().invoke(main, ["predict", str(pics / f"{name}.jpg"), "--jrd", "search",
                                        "--json", str(tmp_path / f"{name}.json")])
        assert res.exit_code == 0, res.output
        pred = json.loads((tmp_path / f"{name}.json").read_text())["objects"]
        assert [o["box"] for o in pred] == [o["box"] for o in rec["objects"]]
        assert [o["jrd"] for o in pred] == [o["jrd"] for o in rec["objects"]]
        assert any(o["jrd"] is not None for o in pred)
        for p, o in zip(pred, rec["objects"]):
            if o["jrd"] is None:
                assert o["status"] == L.BELOW_KEEP_SCORE and p["source"] == "below keep score"
            else:
                assert p["info"]["rule_jrd"] == o["rule_jrd"] and p["info"]["status"] == o["status"]
    res = CliRunner().invoke(main, ["encode", str(pics / "bus.jpg"), "-o", str(tmp_path / "bus.266"), "--jrd",
                                    "search", "--json", str(tmp_path / "enc.json")])
    assert res.exit_code == 0, res.output
    enc = json.loads((tmp_path / "enc.json").read_text())["objects"]
    assert [o["jrd"] for o in enc] == [o["jrd"] for o in recs["bus"]["objects"]]


def test_label_status_follows_the_rule_on_real_curves(nanodet_labels):
    """On the measured per-QP strings: the rule's label is detected; the lost window above it (cut at the top, where
    a detection at QP 63 alone does not end it) holds no other detection; `never_lost` is detected at 62 and 63;
    the JRD is the rule's label or lower (the check through the plan choice), and says by how much."""
    _, ds = nanodet_labels
    objs = [o for r in _records(ds).values() for o in r["objects"] if o["status"] != L.BELOW_KEEP_SCORE]
    assert len(objs) >= 5
    for o in objs:
        d, rj = o["detected"], o["rule_jrd"]
        if o["status"] == L.NEVER_LOST:
            assert rj == 63 and d[62:] == "11"
        elif o["status"] == L.LABELLED:
            window = d[rj + 1:min(rj + L.WINDOW, 63) + 1]
            if len(window) > 1 and rj + L.WINDOW >= 63:
                window = window[:-1]  # QP 63 alone does not end the loss
            assert d[rj] == "1" and "0" in window and set(window) <= {"0", "!"}
        else:
            assert o["status"] == L.DROPPED and o["jrd"] is None and set(d[:L.WINDOW]) <= {"0", "!"}
            continue
        assert o["jrd"] == rj - o.get("lowered_by_verify", 0) and o["jrd"] <= rj


@pytest.mark.slow
def test_smart_search_equals_full_sweep_over_all_qps(pictures, tmp_path):
    smart, full = tmp_path / "smart", tmp_path / "full"
    _label(str(pictures), "-o", str(full), "--search", "full")
    _label(str(pictures), "-o", str(smart))
    assert _labels(smart) == _labels(full) and len(_labels(full)) >= 3
    assert all(0 <= v <= 63 for v in _labels(full).values() if v is not None)


def test_bench_tool_runs(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import bench_label

    out = tmp_path / "bench.json"
    assert bench_label.main(["--qps", "62-63", "--pictures", "1", "--workers", "1", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert [(r["search"], r["codings_per_picture"]) for r in d["rows"]][0] == ("full", 2.0)
    assert d["ratios"]["labels equal smart vs full, 1 worker(s)"] is True
    assert all(r["cpu_seconds"] > 0 and r["failed"] == 0 for r in d["rows"])


def test_interrupt_keeps_finished_pictures_and_stops_workers(pictures, tmp_path):
    """SIGTERM (as Ctrl-C) in the middle of a 2-worker run: exit 130, finished pictures kept, no worker left
    running; the next run labels only the rest."""
    import signal
    import subprocess
    import sys
    import time

    from vcm.media import read_picture, write_picture

    pics = tmp_path / "pics"
    pics.mkdir()
    bus = read_picture(pictures / "bus.png")
    for i in range(5):  # different pixels each: nothing comes from the encode cache
        write_picture(pics / f"p{i}.png", np.clip(bus.astype(np.int16) + 7 * i, 0, 255).astype(np.uint8))
    ds = tmp_path / "ds"
    cmd = [sys.executable, "-c", "from vcm.cli import main; main()", "label", str(pics), "-o", str(ds), "--qps", "44-63", "--workers", "2",
           "-q"]
    env = dict(os.environ, VCM_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not list((ds / ".work").glob("*.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == proc.pid]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted after" in out and "run the same command again" in out
    done = sorted(p.stem for p in (ds / ".work").glob("*.json"))
    assert 1 <= len(done) < 5
    time.sleep(0.5)
    assert children and not [c for c in children if _alive(c)]  # the workers were stopped, not orphaned
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"({5 - len(done)} labelled now, {len(done)} from an earlier run, 0 failed" in r.stdout


def _ppid(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
