"""Detectors on real pictures: the offline HOG people detector, the ultralytics path with a real (randomly
initialised) YOLO model saved to a local .pt, pseudo-ground-truth mAP through the real codec, and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vcm.detect import DEFAULT_DETECTOR, create_detector
from vcm.errors import VcmError
from vcm.media import read_picture
from vcm.metrics import iou
from vcm.metrics.map import pseudo_map

# The walking man on the left of bus.jpg, boxed by hand from the picture (x1, y1, x2, y2).
BUS_MAN = (50, 400, 245, 905)


@pytest.fixture(scope="module")
def hog():
    return create_detector("hog-person")


def test_default_detector_is_nanodet(nanodet_weights):
    assert DEFAULT_DETECTOR == "nanodet" and create_detector().spec == "nanodet"


@pytest.fixture(scope="module")
def bus(bus_jpg):
    return read_picture(bus_jpg)


def test_hog_person_finds_people_in_bus(hog, bus):
    dets = hog.detect_one(bus)
    assert (dets.width, dets.height) == (810, 1080)
    assert len(dets) >= 1 and all(d.label == "person" and d.class_id == 0 for d in dets)
    assert all(hog.score_threshold <= d.score <= 1 for d in dets)
    assert max(iou(d.box, BUS_MAN) for d in dets) >= 0.5
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


def test_hog_is_deterministic_and_described(hog, bus):
    a, b = hog.detect([bus, bus])
    assert a == b == hog.detect_one(bus)
    info = hog.describe()
    assert info["detector"] == "hog-person" and len(info["weights_sha256"]) == 64


def test_hog_small_and_grey_pictures(hog):
    assert len(hog.detect_one(np.zeros((40, 30, 3), np.uint8))) == 0  # smaller than the 64x128 window
    grey = np.full((200, 100), 128, np.uint8)
    assert hog.detect([grey])[0].width == 100
    with pytest.raises(ValueError, match="uint8"):
        hog.detect([np.zeros((200, 100, 3), np.float32)])


def test_map_against_own_pseudo_ground_truth_is_one(hog, bus):
    orig = hog.detect([bus])
    assert len(orig[0]) > 0
    r = pseudo_map(orig, orig)
    assert r.map50 == 1.0 and r.map50_95 == 1.0


def test_map_falls_with_coarser_qp(hog, bus):
    from vcm.codec import code_picture

    orig = hog.detect([bus])
    maps = {}
    for qp in (22, 57):
        decoded, res = code_picture(bus, qp=qp)
        assert res.slice_qps and set(res.slice_qps) == {qp}
        maps[qp] = pseudo_map(orig, hog.detect([decoded])).map50
    assert maps[57] < maps[22]


def test_haar_face_finds_a_face(zidane_jpg):
    d = create_detector("haar-face").detect_one(read_picture(zidane_jpg))
    # Ancelotti's face, boxed by hand: (925, 115)-(1065, 265)
    assert any(iou(x.box, (925, 115, 1065, 265)) >= 0.5 for x in d)
    assert all(x.label == "face" for x in d)


def test_unknown_detector_and_missing_weights():
    with pytest.raises(VcmError, match="unknown detector"):
        create_detector("sift-cats")
    for spec in ("yolo11n.pt", "runs/no_such/best.pt"):
        with pytest.raises(VcmError, match="hog-person") as e:
            create_detector(spec)
        assert "\n" not in str(e.value)
    with pytest.raises(VcmError, match="hog-person"):
        create_detector("hog-person", imgsz=640)  # an option the backend does not take


# --- ultralytics path ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def yolo_pt(tmp_path_factory) -> Path:
    """yolo11n built from ultralytics' bundled yaml (random weights), with COCO class names, saved to .pt."""
    import ultralytics
    import yaml
    from ultralytics import YOLO

    names = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/datasets/coco.yaml").read_text())["names"]
    model = YOLO("yolo11n.yaml")
    model.model.names = dict(names)
    path = tmp_path_factory.mktemp("yolo") / "rand11n.pt"
    model.save(str(path))
    return path


def test_ultralytics_batched_equals_single(yolo_pt, bus_jpg, zidane_jpg):
    from vcm.fsutil import sha256_file

    det = create_detector(str(yolo_pt), conf=1e-6, imgsz=320)  # random weights: only tiny scores
    bus, zid = read_picture(bus_jpg), read_picture(zidane_jpg)
    batched = det.detect([bus, zid, bus])
    single = [det.detect_one(bus), det.detect_one(zid)]
    assert [(d.width, d.height) for d in batched] == [(810, 1080), (1280, 720), (810, 1080)]
    assert len(batched[0]) > 0 and len(batched[1]) > 0
    for got, ref in ((batched[0], single[0]), (batched[1], single[1]), (batched[2], single[0])):
        assert len(got) == len(ref)
        np.testing.assert_allclose([d.box for d in got], [d.box for d in ref], atol=1e-2)
        assert [d.class_id for d in got] == [d.class_id for d in ref]
    d0 = batched[0][0]
    assert 0 <= d0.box[0] < d0.box[2] <= 810 and 0 <= d0.box[1] < d0.box[3] <= 1080
    assert det.class_names[0] == "person" and d0.label == det.class_names[d0.class_id]
    info = det.describe()
    assert info["weights_sha256"] == sha256_file(yolo_pt) and info["device"] in ("cpu", "cuda:0")


def test_ultralytics_options_and_class_filter(yolo_pt, bus_jpg):
    bus = read_picture(bus_jpg)
    det = create_detector(str(yolo_pt), conf=1e-6, imgsz=320, classes="person,car")
    assert det.classes == [0, 2]
    assert {d.class_id for d in det.detect_one(bus)} <= {0, 2}
    with pytest.raises(VcmError, match="not one of this model's classes"):
        create_detector(str(yolo_pt), classes="unicorn")
    with pytest.raises(VcmError, match="multiple of 32"):
        create_detector(str(yolo_pt), imgsz=300)


def test_corrupt_weights_file(tmp_path):
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"not a torch checkpoint")
    with pytest.raises(VcmError, match="cannot load the model") as e:
        create_detector(bad)
    assert str(bad) in str(e.value) and "hog-person" in str(e.value)


def test_ultralytics_from_yaml_spec():
    det = create_detector("yolo11n.yaml", conf=0.5, imgsz=64)
    assert det.describe()["weights_sha256"] is None and "random" in det.describe()["note"]
    assert det.detect([np.zeros((64, 96, 3), np.uint8)])[0].width == 96


# --- CLI -------------------------------------------------------------------------------------------------
def test_detect_and_map_cli(tmp_path, bus_jpg):
    from vcm.cli import main

    out, coco, draw = tmp_path / "det.json", tmp_path / "gt.json", tmp_path / "boxes"
    res = tmp_path / "results.json"
    r = CliRunner().invoke(main, ["detect", str(bus_jpg), "--json", str(out), "--coco-gt", str(coco),
                                  "--coco", str(res), "--draw", str(draw)])
    assert r.exit_code == 0, r.output
    assert "person" in r.output and "bus" in r.output
    doc = json.loads(out.read_text())
    assert doc["detector"]["detector"] == "nanodet"
    # COCO results with COCO category ids (person 1, bus 6) that pycocotools' loadRes accepts
    from pycocotools.coco import COCO

    gt = COCO(str(coco))
    dt = gt.loadRes(str(res))
    cats = {a["category_id"] for a in dt.dataset["annotations"]}
    assert {1, 6} <= cats and 0 not in cats and len(dt.dataset["annotations"]) == len(doc["images"][0]["detections"])
    im = doc["images"][0]
    assert (im["file"], im["width"], im["height"]) == (str(bus_jpg), 810, 1080)
    d = im["detections"][0]
    assert set(d) == {"box", "label", "class_id", "score"} and len(d["box"]) == 4
    drawn = read_picture(draw / "bus.png")
    assert drawn.shape == (1080, 810, 3) and not np.array_equal(drawn, read_picture(bus_jpg))
    r = CliRunner().invoke(main, ["map", "--gt", str(coco), "--pred", str(out)])
    assert r.exit_code == 0, r.output
    assert "mAP@0.5:      1.0000" in r.output and "mAP@0.5:0.95: 1.0000" in r.output
    # the detections file itself also serves as pseudo ground truth
    r = CliRunner().invoke(main, ["map", "--gt", str(out), "--pred", str(out), "--json", "-"])
    assert json.loads(r.output)["map50"] == 1.0
    r = CliRunner().invoke(main, ["detect", str(bus_jpg), "--json", "-"])
    assert r.exit_code == 0 and json.loads(r.output)["images"] == doc["images"]


def test_cli_errors_are_one_line(tmp_path, bus_jpg):
    from vcm.cli import main

    r = CliRunner().invoke(main, ["detect", str(bus_jpg), "--detector", "yolo11n.pt"])
    assert r.exit_code == 2 and "--detector nanodet" in r.output and "\n" not in r.output.strip()
    r = CliRunner().invoke(main, ["detect", str(tmp_path / "none.jpg")])
    assert r.exit_code == 2 and "none.jpg" in r.output
    gt = tmp_path / "gt.json"
    gt.write_text("[1, 2]")
    r = CliRunner().invoke(main, ["map", "--gt", str(gt), "--pred", str(gt)])
    assert r.exit_code == 2 and "gt.json" in r.output


def test_cli_help_has_examples_and_no_heavy_imports():
    from vcm.cli import main

    for cmd in ("detect", "map", "bdrate"):
        r = CliRunner().invoke(main, [cmd, "--help"])
        assert r.exit_code == 0 and "Example" in r.output, cmd
    code = ("import sys, vcm.cli.detect, vcm.cli.metrics, vcm.detect, vcm.metrics, vcm.gt; "
            "heavy = [m for m in ('torch', 'ultralytics', 'timm', 'pycocotools') if m in sys.modules]; "
            "sys.exit(', '.join(heavy) or None)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_bench_detect_tool_runs(capsys):
    """tools/bench_detect.py's main() end to end in its quick mode (the numbers go to docs/BENCHMARKS.md)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_detect", Path(__file__).parents[1] / "tools/bench_detect.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--quick", "--detections", "200"]) == 0
    out = capsys.readouterr().out
    assert "| hog-person | one picture per call |" in out and "| 200 |" in out


def test_detect_cli_several_pictures(tmp_path, bus_jpg, astronaut_png):
    """Several pictures (JPEG and a scikit-image PNG) in small batches keep their order; --draw names stay unique."""
    from vcm.cli import main

    twin = tmp_path / "other" / "bus.jpg"
    twin.parent.mkdir()
    twin.write_bytes(Path(bus_jpg).read_bytes())
    out = tmp_path / "det.json"
    r = CliRunner().invoke(main, ["detect", str(bus_jpg), str(astronaut_png), str(twin), "--batch", "2",
                                  "--json", str(out), "--draw", str(tmp_path / "boxes")])
    assert r.exit_code == 0, r.output
    images = json.loads(out.read_text())["images"]
    assert [(i["file"], i["width"], i["height"]) for i in images] == [
        (str(bus_jpg), 810, 1080), (str(astronaut_png), 512, 512), (str(twin), 810, 1080)]
    assert images[0]["detections"] == images[2]["detections"]
    assert sorted(p.name for p in (tmp_path / "boxes").iterdir()) == ["astronaut.png", "bus.png", "bus_1.png"]


@pytest.mark.slow
def test_rtdetr_path_from_yaml(bus_jpg):
    """RT-DETR goes through ultralytics.RTDETR (a 32M-parameter model: slow on CPU, so not in the default run)."""
    det = create_detector("rtdetr-l.yaml", conf=0.0, imgsz=320)
    assert type(det._model).__name__ == "RTDETR"
    pic = np.ascontiguousarray(read_picture(bus_jpg)[::4, ::4])
    a, b = det.detect([pic, pic])
    assert len(a) > 0 and a == b
    assert det.detect_one(pic) == det.detect_one(pic)  # deterministic on CPU
    # (random weights give hundreds of near-tied scores, so batch-vs-single order is not compared here;
    # test_ultralytics_batched_equals_single does that with YOLO)
