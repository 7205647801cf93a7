"""The TF.js runner and the COCO detectors on real weights: raw outputs, reference detections, op errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vcm.detect import create_detector
from vcm.detect import tfjs
from vcm.detect.coco import COCO80_NAMES, COCO80_TO_CATEGORY, coco80_id
from vcm.errors import VcmError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "nanodet"


def _shared() -> Path:
    for cand in (SHARED, Path("/work/shared/nanodet")):
        if (cand / "reference.json").is_file():
            return cand
    pytest.fail("shared/nanodet/reference.json (the reference conversion's outputs) is missing")


def _pictures(bus_jpg, zidane_jpg):
    import cv2
    from skimage import data

    rd = lambda p: np.ascontiguousarray(cv2.imread(str(p))[:, :, ::-1])  # noqa: E731
    return {"bus.jpg": rd(bus_jpg), "zidane.jpg": rd(zidane_jpg), "astronaut.png": data.astronaut(),
            "coffee.png": data.coffee(), "chelsea.png": data.chelsea()}


def test_runner_reproduces_reference_raw_outputs(nanodet_weights):
    raw = np.load(_shared() / "bus_raw.npz")
    runner = tfjs.OnnxGraphRunner(nanodet_weights, threads=2)
    out = runner.run(raw["input"])
    keys = [k for k in raw.files if k.startswith("out")]
    assert len(keys) == 6
    for k in keys:  # out0_Identity_2_0 -> tensor Identity_2:0
        name = k.split("_", 1)[1].rsplit("_", 1)[0]
        np.testing.assert_allclose(out[name], raw[k], atol=1e-4, rtol=0, err_msg=k)


def test_numpy_executor_agrees_with_onnx(nanodet_weights):
    raw = np.load(_shared() / "bus_raw.npz")
    out = tfjs.NumpyExecutor(tfjs.load_graph(nanodet_weights)).run({"input_1": raw["input"]})
    np.testing.assert_allclose(out["Identity"], raw["out3_Identity_0"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out["Identity_3"], raw["out5_Identity_3_0"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["nanodet", "centernet"])
def test_reference_detections(name, bus_jpg, zidane_jpg, request):
    request.getfixturevalue(f"{name}_weights")
    ref = json.loads((_shared() / "reference.json").read_text())[name]
    det = create_detector(name, threads=2)
    pics = _pictures(bus_jpg, zidane_jpg)
    assert set(ref) == set(pics)
    for pic, want in ref.items():
        got = det.detect_one(pics[pic])
        assert [d.label for d in got] == [w["label"] for w in want], pic
        for d, w in zip(got, want):
            assert abs(d.score - w["score"]) <= 0.01, (pic, d, w)
            assert np.abs(np.array(d.box) - np.array(w["box"])).max() <= 2, (pic, d, w)
    desc = det.describe()
    assert len(desc["weights_sha256"]) == 2 and all(len(v) == 64 for v in desc["weights_sha256"].values())


def test_options_classes_conf_and_imgsz(nanodet_weights, bus_jpg):
    pic = _pictures(bus_jpg, bus_jpg)["bus.jpg"]
    people = create_detector("nanodet", classes="person").detect_one(pic)
    assert [d.label for d in people] == ["person"] * 4
    bus = create_detector("nanodet", classes=[5]).detect_one(pic)
    assert [d.label for d in bus] == ["bus"]
    strict = create_detector("nanodet", conf=0.7).detect_one(pic)
    assert [d.label for d in strict] == ["person", "bus"]
    with pytest.raises(VcmError, match="imgsz"):
        create_detector("nanodet", imgsz=640)
    with pytest.raises(VcmError, match="giraffe-ish"):
        create_detector("nanodet", classes="giraffe-ish")
    assert create_detector("nanodet").class_names[0] == "person"


def test_unknown_op_is_named(nanodet_weights, tmp_path):
    for f in nanodet_weights.parent.iterdir():
        if f.suffix in (".json", ".bin"):
            shutil.copy(f, tmp_path / f.name)
    j = json.loads((tmp_path / "nanodet.json").read_text())
    sig = next(n for n in j["modelTopology"]["node"] if n["op"] == "Sigmoid")
    sig["op"] = "Erfinv"
    (tmp_path / "nanodet.json").write_text(json.dumps(j))
    with pytest.raises(VcmError, match="'Erfinv' is not supported"):
        tfjs.load_graph(tmp_path / "nanodet.json")


def test_coco_ids():
    assert len(COCO80_NAMES) == 80 and COCO80_TO_CATEGORY[0] == 1 and COCO80_TO_CATEGORY[-1] == 90
    assert COCO80_TO_CATEGORY[coco80_id("stop sign")] == 13 and coco80_id("0") == 0
    assert len(set(COCO80_TO_CATEGORY)) == 80
