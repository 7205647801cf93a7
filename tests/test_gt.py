"""COCO ground truth: pseudo ground truth from detections, read/write round trip, clear errors on bad files."""
from __future__ import annotations

import json

import pytest

from vcm.errors import VcmError
from vcm.gt import (category_lookup, coco_to_detections, detections_to_coco, detections_to_results,
                    image_ids_by_name, read_coco, write_coco)
from vcm.types import Detection, Detections

BUS = Detections(810, 1080, (Detection((50.5, 400.0, 245.25, 905.0), 0, "person", 0.91),
                             Detection((17.0, 230.0, 802.0, 768.0), 5, "bus", 0.88)))
ZIDANE = Detections(1280, 720, (Detection((747.0, 41.0, 1141.0, 712.0), 0, "person", 0.8),))


def test_pseudo_ground_truth_round_trip(tmp_path):
    coco = detections_to_coco([("imgs/bus.jpg", BUS), ("zidane.jpg", ZIDANE)], info={"detector": {"x": 1}})
    assert [im["file_name"] for im in coco["images"]] == ["imgs/bus.jpg", "zidane.jpg"]
    assert {c["name"] for c in coco["categories"]} == {"person", "bus"}
    a0 = coco["annotations"][0]
    assert a0["bbox"] == [50.5, 400.0, 194.75, 505.0] and a0["area"] == pytest.approx(194.75 * 505.0)
    assert a0["iscrowd"] == 0
    path = tmp_path / "gt.json"
    write_coco(path, coco)
    back = coco_to_detections(read_coco(path))
    assert [v[0] for v in back.values()] == ["imgs/bus.jpg", "zidane.jpg"]
    got = list(back.values())[0][1]
    assert (got.width, got.height) == (810, 1080)
    assert [(d.box, d.class_id, d.label, d.score) for d in got] == [(d.box, d.class_id, d.label, d.score) for d in BUS]
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temporary file


def test_image_ids_by_name_and_results():
    coco = detections_to_coco([("imgs/bus.jpg", BUS), ("zidane.jpg", ZIDANE)])
    ids = image_ids_by_name(coco)
    assert ids["imgs/bus.jpg"] == ids["bus.jpg"] == 1 and ids["zidane.jpg"] == 2
    res = detections_to_results(coco, {2: ZIDANE})
    # COCO category ids (person = 1, bus = 6), as pycocotools and real COCO files number them
    assert res == [{"image_id": 2, "category_id": 1, "bbox": [747.0, 41.0, 394.0, 671.0], "score": 0.8}]
    assert {c["id"]: c["name"] for c in coco["categories"]} == {1: "person", 6: "bus"}
    lookup = category_lookup(coco)
    assert lookup(99, "bus") == 6 and lookup(0, "unknown") == 1 and lookup(42, "kite") is None


@pytest.mark.parametrize("doc,msg", [
    ([], "no 'images' list"),
    ({"images": [{"file_name": "a"}], "annotations": [], "categories": []}, "no 'id'"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}],
      "categories": [{"id": 1, "name": "p"}]}, "image_id 2"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1]}],
      "categories": [{"id": 1, "name": "p"}]}, "category_id 3"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0]}],
      "categories": [{"id": 1, "name": "p"}]}, "bbox must be"),
])
def test_bad_coco_files_name_the_file(tmp_path, doc, msg):
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(VcmError, match=msg) as e:
        read_coco(p)
    assert str(p) in str(e.value) and "Fix:" in str(e.value)


def test_not_json_and_missing(tmp_path):
    p = tmp_path / "gt.json"
    p.write_text("{not json")
    with pytest.raises(VcmError, match="not valid JSON"):
        read_coco(p)
    with pytest.raises(VcmError, match="no such file"):
        read_coco(tmp_path / "nope.json")


def test_real_coco_fields_are_completed(tmp_path):
    """A minimal hand-written COCO file (no iscrowd/area/ids) is accepted and scored."""
    from vcm.metrics.map import evaluate_map

    p = tmp_path / "gt.json"
    p.write_text(json.dumps({"images": [{"id": 7, "file_name": "x.png", "width": 100, "height": 100}],
                             "annotations": [{"image_id": 7, "category_id": 1, "bbox": [10, 10, 30, 40]}],
                             "categories": [{"id": 1, "name": "person"}]}))
    gt = read_coco(p)
    assert gt["annotations"][0]["iscrowd"] == 0 and gt["annotations"][0]["area"] == 1200
    pred = [("x.png", Detections(100, 100, (Detection((10, 10, 40, 50), 0, "person", 0.7),)))]
    assert evaluate_map(gt, pred).map50 == 1.0
