"""DT-JRD model, loss, crop rule and the dtjrd predictor (tiny real timm ViTs, CPU, offline)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vcm.errors import VcmError
from vcm.jrd.base import create_predictor
from vcm.jrd.data import crop_box, crop_object, preprocess, read_crop, resize_crop
from vcm.jrd.dtjrd import DTJRDPredictor, atomic_torch_save, file_sha256, load_checkpoint, make_checkpoint
from vcm.jrd.loss import JRDLoss, gaussian_soft_labels, soft_cross_entropy
from vcm.jrd.model import (IMAGENET_MEAN, IMAGENET_STD, ModelConfig, apply_variant, build_model, decode_logits,
                           freeze_embeddings, parse_variant)
from vcm.types import Detection, Detections


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


# --- loss ----------------------------------------------------------------------------------------------------

def test_gaussian_labels_shape_normalisation_and_peak():
    t = torch.tensor([0, 17, 41, 63])
    q = gaussian_soft_labels(t, 64, sigma=3.0)
    assert q.shape == (4, 64)
    assert torch.allclose(q.sum(1), torch.ones(4), atol=1e-6)
    assert torch.equal(q.argmax(1), t)
    # symmetric around an inner target, and wider with a larger sigma
    assert torch.isclose(q[2, 41 - 4], q[2, 41 + 4])
    assert gaussian_soft_labels(t, 64, sigma=6.0)[2, 41] < q[2, 41]
    # sigma 3: the neighbours at +-3 weigh exp(-1/2) of the peak
    assert torch.isclose(q[2, 44] / q[2, 41], torch.tensor(np.exp(-0.5), dtype=torch.float32))
    with pytest.raises(ValueError):
        gaussian_soft_labels(t, 64, sigma=0)


@pytest.mark.parametrize("kind", ["gaussian", "ce"])
def test_loss_is_lowest_at_the_true_class(kind):
    loss = JRDLoss(kind)
    target = torch.tensor([37])
    values = []
    for c in range(64):
        logits = torch.full((1, 64), -4.0)
        logits[0, c] = 4.0
        values.append(float(loss(logits, target)))
    assert int(np.argmin(values)) == 37
    # and it grows with the distance from the truth (Gaussian: strictly, up to 10 QPs away)
    if kind == "gaussian":
        assert all(values[37 + d] < values[37 + d + 1] for d in range(10))
        assert all(values[37 - d] < values[37 - d - 1] for d in range(10))


def test_soft_cross_entropy_equals_cross_entropy_for_one_hot_targets():
    logits = torch.randn(5, 64, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([1, 5, 40, 63, 0])
    one_hot = torch.nn.functional.one_hot(t, 64).float()
    assert torch.isclose(soft_cross_entropy(logits, one_hot), torch.nn.functional.cross_entropy(logits, t))
    with pytest.raises(ValueError):
        JRDLoss("l2")


# --- model ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    config = ModelConfig.for_backbone("tiny")
    return build_model(config).eval(), config


def test_tiny_model_outputs_64_logits_from_the_mean_of_patch_tokens(tiny):
    model, config = tiny
    x = torch.randn(3, 3, config.img_size, config.img_size)
    with torch.inference_mode():
        logits = model(x)
        tokens = model.backbone.forward_features(x)
    assert logits.shape == (3, 64)
    assert tokens.shape[1] == 1 + (32 // 8) ** 2  # cls + 16 patches
    expected = model.head(tokens[:, 1:].mean(1))  # the cls token is left out
    assert torch.allclose(logits, expected, atol=1e-6)
    assert not torch.allclose(logits, model.head(tokens.mean(1)), atol=1e-6)


def test_decode_argmax_and_expectation():
    logits = torch.full((2, 64), -30.0)
    logits[0, 10] = 0.0
    logits[1, 20] = 0.0
    logits[1, 30] = 0.0  # two equally likely QPs: argmax takes the first, expectation the middle
    jrd, expectation, probs = decode_logits(logits, "argmax")
    assert jrd.tolist() == [10, 20]
    assert torch.allclose(expectation, torch.tensor([10.0, 25.0]), atol=1e-4)
    assert decode_logits(logits, "expectation")[0].tolist() == [10, 25]
    assert torch.allclose(probs.sum(1), torch.ones(2))


def test_authors_strategy_freezes_only_patch_and_position_embeddings():
    model = build_model(ModelConfig.for_backbone("tiny"))
    frozen = freeze_embeddings(model)
    assert set(frozen) == {"pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert "head.weight" in trainable and any(n.startswith("backbone.blocks.1.") for n in trainable)
    assert "backbone.cls_token" in trainable


def test_training_variants_choose_what_trains():
    assert parse_variant("head") == ("head", 0) and parse_variant("last:3", 12) == ("last", 3)
    assert parse_variant("full") == ("all", 0) and parse_variant("authors") == ("authors", 0)
    for bad in ("last:0", "last:13", "last", "blocks", ""):
        with pytest.raises(VcmError, match="training variant"):
            parse_variant(bad, 12)

    def trains(variant):
        model = build_model(ModelConfig.for_backbone("tiny"))
        return set(apply_variant(model, variant)), {n for n, p in model.named_parameters() if p.requires_grad}

    everything = {n for n, _ in build_model(ModelConfig.for_backbone("tiny")).named_parameters()}
    head, flagged = trains("head")
    assert head == flagged == {"head.weight", "head.bias"}
    last, _ = trains("last:1")
    assert last == {n for n in everything if n.startswith(("head.", "backbone.blocks.1.", "backbone.norm."))}
    assert trains("all")[0] == everything
    authors = trains("authors")[0]
    assert everything - authors == {"backbone.pos_embed", "backbone.patch_embed.proj.weight",
                                    "backbone.patch_embed.proj.bias"}
    with pytest.raises(VcmError):
        trains("last:3")  # tiny has 2 blocks


def test_fit_head_learns_separable_features_and_folds_the_standardisation():
    from vcm.jrd.head import fit_head

    rng = np.random.default_rng(0)
    labels = rng.choice([20, 30, 45], size=120)
    centres = {20: rng.normal(0, 1, 16), 30: rng.normal(0, 1, 16), 45: rng.normal(0, 1, 16)}
    feats = np.stack([centres[int(l)] * 3 + 5 + rng.normal(0, 0.5, 16) for l in labels]).astype(np.float32)
    views = np.stack([feats, feats + rng.normal(0, 0.1, feats.shape).astype(np.float32)], axis=1)
    fit = fit_head(views[:90], labels[:90], feats[90:], labels[90:], epochs=10, lr=0.05, patience=0, seed=1)
    assert fit.history[-1]["train_loss"] < fit.history[0]["train_loss"] - 0.5
    assert fit.best_val["mae"] < 0.5 * fit.best_val["baseline_mae"]
    # the saved head works on raw features: its validation MAE is the one recorded for the best epoch
    logits = torch.from_numpy(feats[90:]) @ fit.state["weight"].T + fit.state["bias"]
    mae = float(np.abs(logits.argmax(1).numpy() - labels[90:]).mean())
    assert abs(mae - fit.best_val["mae"]) < 1e-9
    again = fit_head(views[:90], labels[:90], feats[90:], labels[90:], epochs=10, lr=0.05, patience=0, seed=1)
    assert torch.equal(again.state["weight"], fit.state["weight"])  # seeded: repeatable


def test_cli_train_head_variant_with_a_feature_cache(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from vcm.cli import main
    from vcm.jrd.data import write_synthetic_dataset

    monkeypatch.setenv("VCM_CACHE_DIR", str(tmp_path / "cache"))
    write_synthetic_dataset(tmp_path / "ds", n=60, seed=3)
    out = tmp_path / "head.pt"
    args = ["train", str(tmp_path / "ds"), "-o", str(out), "--backbone", "tiny", "--train", "head", "--epochs", "3",
            "--lr", "0.05", "--device", "cpu", "-q"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "computing backbone features" in r.output and "best: epoch" in r.output
    assert len(list((tmp_path / "cache" / "features").glob("*/*.npz"))) == 3  # train, train flipped, val
    ckpt = load_checkpoint(out)
    assert ckpt["variant"] == "head" and ckpt["train_config"]["strategy"] == "head"
    assert out.with_name(out.name + ".csv").exists()
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "computing backbone features" not in r.output and "0 computed" in r.output
    assert DTJRDPredictor(str(out), device="cpu", force=True).describe()["variant"] == "head"
    # the recorded train MAE is what jrd-eval gives on the saved head (60 crops: warned as too few)
    assert "WARNING: only 42 training crops" in r.output and ckpt["warnings"]
    r = CliRunner().invoke(main, ["jrd-eval", str(tmp_path / "ds"), "--jrd", f"dtjrd:{out}", "--split", "train",
                                  "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    assert f"MAE: {ckpt['train_metrics']['mae']:.3f}" in r.output.splitlines()[0]
    assert "WARNING (checkpoint): only 42 training crops" in r.output
    r = CliRunner().invoke(main, args[:-3] + ["--train", "last:5", "-q"])
    assert r.exit_code == 2 and "training variant" in r.output


def test_pretrained_from_a_local_file_and_position_embedding_interpolation(tmp_path):
    """A timm state dict on disk loads by path; another input size resamples the position embeddings."""
    import timm

    kwargs = dict(patch_size=8, depth=2, embed_dim=64, num_heads=2)
    torch.manual_seed(1)
    src = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, **kwargs)  # with its 1000-way head
    weights = tmp_path / "tiny_weights.pth"
    torch.save(src.state_dict(), weights)

    same = build_model(ModelConfig.for_backbone("tiny"), pretrained=str(weights))
    for name, p in same.backbone.state_dict().items():
        assert torch.equal(p, src.state_dict()[name]), name
    bigger = build_model(ModelConfig.for_backbone("tiny", img_size=48), pretrained=str(weights))
    assert bigger.backbone.pos_embed.shape == (1, 1 + 6 * 6, 64)
    assert torch.equal(bigger.backbone.blocks[1].mlp.fc1.weight, src.blocks[1].mlp.fc1.weight)
    assert torch.equal(bigger.backbone.pos_embed[:, 0], src.pos_embed[:, 0])  # the cls position is kept
    assert bigger(torch.randn(1, 3, 48, 48)).shape == (1, 64)

    with pytest.raises(VcmError, match="not found"):
        build_model(ModelConfig.for_backbone("tiny"), pretrained=str(tmp_path / "nope.pth"))
    with pytest.raises(VcmError, match="hub"):  # offline (HF_HUB_OFFLINE=1): a one-line error, no hang
        build_model(ModelConfig(backbone="vit_tiny_patch16_224", img_size=32), pretrained="hub")
    with pytest.raises(VcmError, match="unknown timm backbone"):
        build_model(ModelConfig(backbone="no_such_vit"))


# --- crops and input -----------------------------------------------------------------------------------------

def test_crop_rule_clips_to_the_picture_and_covers_fractional_boxes():
    assert crop_box((10.2, 5.7, 20.1, 30.0), 100, 50) == (10, 5, 21, 30)
    assert crop_box((-5, -3, 120, 80), 100, 50) == (0, 0, 100, 50)
    assert crop_box((99.5, 49.5, 99.6, 49.6), 100, 50) == (99, 49, 100, 50)  # never empty
    pic = np.arange(50 * 100 * 3, dtype=np.uint8).reshape(50, 100, 3)
    assert crop_object(pic, (10.2, 5.7, 20.1, 30.0)).shape == (25, 11, 3)
    assert np.array_equal(crop_object(pic, (10, 5, 21, 30)), pic[5:30, 10:21])


def test_preprocess_stretch_letterbox_and_flip():
    rgb = np.zeros((20, 60, 3), np.uint8)
    rgb[:, :30] = 255  # left half white
    x = preprocess(rgb, 32, "stretch", IMAGENET_MEAN, IMAGENET_STD)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    assert x[:, :, 0].mean() > 2 and x[:, :, -1].mean() < -1.5  # white left, black right, normalised
    flipped = preprocess(rgb, 32, "stretch", IMAGENET_MEAN, IMAGENET_STD, flip=True)
    assert np.allclose(flipped, x[:, :, ::-1])
    lb = preprocess(rgb, 32, "letterbox", IMAGENET_MEAN, IMAGENET_STD)
    assert np.abs(lb[:, :8]).max() < 0.03 and np.abs(lb[:, -8:]).max() < 0.03  # padding: ~0 after normalising
    assert resize_crop(rgb, 32, "letterbox")[16, 0].tolist() == [255, 255, 255]
    with pytest.raises(VcmError):
        resize_crop(rgb, 32, "crop")


# --- checkpoint and predictor --------------------------------------------------------------------------------

def _checkpoint(tmp_path, tiny, name="m.pt"):
    model, config = tiny
    path = tmp_path / name
    atomic_torch_save(make_checkpoint(model, config, val_metrics={"mae": 1.0}, data_fingerprint="abc"), path)
    return path


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path, tiny, bus_jpg):
    model, config = tiny
    path = _checkpoint(tmp_path, tiny)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left nothing behind
    ckpt = load_checkpoint(path)
    assert ckpt["config"]["backbone"] == "vit_tiny_patch16_224" and ckpt["classes"] == list(range(64))
    assert ckpt["config"]["mean"] == list(IMAGENET_MEAN) and ckpt["config"]["img_size"] == 32

    picture = read_crop(bus_jpg)  # any RGB picture; read_crop is the dataset's own reader
    h, w = picture.shape[:2]
    dets = Detections(w, h, (Detection((50, 400, 250, 900), 0, "person", 0.9),
                             Detection((0.5, 200.2, 810, 780.7), 5, "bus", 0.8),
                             Detection((700, 1000, 900, 1200), 0, "person", 0.5)))  # partly outside: clipped
    pred = create_predictor(f"dtjrd:{path}", device="cpu", batch_size=8)
    assert isinstance(pred, DTJRDPredictor)
    objs = pred.predict(picture, dets)
    assert [o.detection for o in objs] == list(dets)
    assert all(o.source == "dtjrd" and 0 <= o.jrd <= 63 for o in objs)
    assert set(objs[0].info) == {"expectation", "probs_top"} and objs[0].info["probs_top"][0][0] == objs[0].jrd

    # the same numbers from the in-memory model on the same crops
    x = torch.from_numpy(np.stack([preprocess(crop_object(picture, d.box), 32, "stretch", IMAGENET_MEAN,
                                              IMAGENET_STD) for d in dets]))
    with torch.inference_mode():
        ref = model(x)
    assert torch.equal(pred.logits([crop_object(picture, d.box) for d in dets]), ref)
    assert [o.jrd for o in objs] == ref.argmax(1).tolist()
    # a second load predicts bit-identically; another batch size only moves float rounding
    again = DTJRDPredictor(str(path), device="cpu", batch_size=8)
    assert [(o.jrd, o.info) for o in again.predict(picture, dets)] == [(o.jrd, o.info) for o in objs]
    one_by_one = DTJRDPredictor(str(path), device="cpu", batch_size=1)
    assert torch.allclose(one_by_one.logits([crop_object(picture, d.box) for d in dets]), ref, atol=1e-5)

    d = pred.describe()
    assert d["predictor"] == "dtjrd" and d["checkpoint_sha256"] == file_sha256(path) and len(d["checkpoint_sha256"]) == 64
    assert pred.predict(picture, Detections(w, h, ())) == []
    with pytest.raises(VcmError, match="picture"):
        pred.predict(picture[:100], dets)


def test_predictor_uses_the_dataset_crop_rule(tmp_path, tiny, zidane_jpg):
    """A crop written to disk and read back by the dataset reader predicts as the picture + box does."""
    import cv2

    path = _checkpoint(tmp_path, tiny)
    pred = DTJRDPredictor(str(path), device="cpu", decode="expectation")
    picture = read_crop(zidane_jpg)
    det = Detection((640.4, 40.6, 1170.2, 719.9), 0, "person", 0.9)
    crop_file = tmp_path / "crop.png"
    cv2.imwrite(str(crop_file), crop_object(picture, det.box)[:, :, ::-1])
    from_file = pred.predict_crops([read_crop(crop_file)])[0]
    from_picture = pred.predict(picture, Detections(picture.shape[1], picture.shape[0], (det,)))[0]
    assert from_file == (from_picture.jrd, from_picture.info)
    assert from_picture.jrd == round(from_picture.info["expectation"])  # decode=expectation


def test_a_checkpoint_worse_than_its_baseline_is_refused_unless_forced(tmp_path, tiny, monkeypatch):
    """`vcm train` saved a head whose val MAE (50) lost to the constant (0) and `--jrd dtjrd:` used it: no more."""
    model, config = tiny
    worse = tmp_path / "worse.pt"
    atomic_torch_save(make_checkpoint(model, config, val_metrics={"mae": 50.0, "baseline_mae": 0.0, "n": 1,
                                                                  "baseline_median": 33.0}), worse)
    monkeypatch.delenv("VCM_DTJRD_FORCE", raising=False)
    with pytest.raises(VcmError) as e:
        create_predictor(f"dtjrd:{worse}", device="cpu")
    msg = str(e.value)
    assert "validation MAE 50.000 is worse than the constant baseline's 0.000" in msg and "VCM_DTJRD_FORCE=1" in msg
    assert "\n" not in msg and str(worse) in msg
    forced = create_predictor(f"dtjrd:{worse}", device="cpu", force=True)
    assert "worse than" in forced.describe()["warnings"][0]
    monkeypatch.setenv("VCM_DTJRD_FORCE", "1")
    assert create_predictor(f"dtjrd:{worse}", device="cpu").describe()["warnings"]
    monkeypatch.delenv("VCM_DTJRD_FORCE")
    better = tmp_path / "better.pt"
    atomic_torch_save(make_checkpoint(model, config, val_metrics={"mae": 5.0, "baseline_mae": 8.0}), better)
    assert "warnings" not in create_predictor(f"dtjrd:{better}", device="cpu").describe()


def test_bad_checkpoints_are_one_line_errors(tmp_path):
    with pytest.raises(VcmError, match="checkpoint not found"):
        create_predictor(f"dtjrd:{tmp_path / 'missing.pt'}")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(VcmError, match="cannot read checkpoint"):
        create_predictor(f"dtjrd:{bad}")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(VcmError, match="not a vcm DT-JRD checkpoint"):
        create_predictor(f"dtjrd:{other}")


def test_a_head_with_box_inputs_gets_them_from_each_detection(tmp_path, bus_jpg):
    """A head that also takes per-object inputs (vcm.jrd.inputs: box size, position, score, class) rebuilds from its
    checkpoint and computes them from the detection; without them a crop alone is refused in one line."""
    from vcm.jrd.inputs import object_inputs

    torch.manual_seed(1)
    names = ("log2_area", "log2_rel_area", "cx", "score", "person")
    config = ModelConfig.for_backbone("tiny", inputs=names)
    model = build_model(config).eval()
    assert model.head.in_features == 64 + len(names)
    path = tmp_path / "inputs.pt"
    atomic_torch_save(make_checkpoint(model, config, val_metrics={"mae": 1.0, "baseline_mae": 2.0}), path)
    pred = create_predictor(f"dtjrd:{path}", device="cpu")
    assert pred.inputs == names and pred.describe()["inputs"] == list(names)
    picture = read_crop(bus_jpg)
    h, w = picture.shape[:2]
    dets = Detections(w, h, (Detection((50, 400, 250, 900), 0, "person", 0.9), Detection((0, 200, 810, 780), 5, "bus", 0.8)))
    objs = pred.predict(picture, dets)
    vec = np.stack([object_inputs(names, d.box, w, h, d.score, d.label) for d in dets])
    assert vec[0, -1] == 1.0 and vec[1, -1] == 0.0 and vec[0, 3] == pytest.approx(0.9)
    x = torch.from_numpy(np.stack([preprocess(crop_object(picture, d.box), 32, "stretch", IMAGENET_MEAN, IMAGENET_STD)
                                   for d in dets]))
    with torch.inference_mode():
        ref = model(x, torch.from_numpy(vec))
    assert [o.jrd for o in objs] == ref.argmax(1).tolist()
    # the inputs matter: the same crops with other inputs give other logits
    assert not torch.equal(pred.logits([crop_object(picture, d.box) for d in dets], vec * 0), ref)
    with pytest.raises(VcmError, match="also needs each object's log2_area"):
        pred.predict_crops([crop_object(picture, d.box) for d in dets])


def test_a_regression_head_decodes_to_its_rounded_prediction_within_the_qp_range():
    """regression_head writes mu(x) = w x + c as a Gaussian 64-way head: argmax is mu rounded, clamped to 0..63."""
    from vcm.jrd.head import regression_head

    w, c = np.array([2.0, -1.0]), 30.0
    state = regression_head(w, c, sigma=4.0)
    x = np.array([[0.0, 0.0], [5.2, 0.0], [3.0, 7.4], [40.0, 0.0], [-30.0, 5.0]], np.float32)
    jrd = decode_logits(torch.from_numpy(x) @ state["weight"].T + state["bias"], "argmax")[0].numpy()
    assert jrd.tolist() == [30, 40, 29, 63, 0]


def test_fit_median_head_follows_the_median_where_least_squares_follows_outliers():
    """The median regression is not pulled by a fifth of labels far off (JRD labels of flickering detections);
    the least-squares line through the same points is, so the median head has the lower MAE on clean data."""
    from vcm.jrd.head import fit_median_head

    rng = np.random.default_rng(0)
    x = rng.uniform(8, 18, (300, 1))
    y = np.rint(2 * x[:, 0] + 10 + rng.normal(0, 1, 300))
    y[::5] = 5  # outliers: lost early
    xv = rng.uniform(8, 18, (100, 1))
    yv = np.rint(2 * xv[:, 0] + 10)
    fit = fit_median_head(x, y, xv, yv, lam=0.01)
    ls = np.linalg.lstsq(np.c_[np.ones(300), x], y, rcond=None)[0]
    ls_mae = float(np.abs(np.rint(ls[0] + ls[1] * xv[:, 0]) - yv).mean())
    assert fit.best_val["mae"] < 1.0 < ls_mae
    # the head on raw inputs decodes to the validation MAE it reports
    pred = decode_logits(torch.from_numpy(xv.astype(np.float32)) @ fit.state["weight"].T + fit.state["bias"],
                         "argmax")[0].numpy()
    assert float(np.abs(pred - yv).mean()) == pytest.approx(fit.best_val["mae"])


def test_the_shipped_predictor_loads_with_no_path_and_predicts_from_the_box(bus_jpg, nanodet_weights):
    """`--jrd dtjrd` with no path: vcm/data/dtjrd_vit_s14.pt (tools/pick_dtjrd.py --ship), package data, small,
    with its command, data fingerprint and held-out numbers; a head on the box inputs alone builds no backbone."""
    from vcm.detect import create_detector
    from vcm.jrd.dtjrd import SHIPPED_PREDICTOR

    assert SHIPPED_PREDICTOR.is_file() and SHIPPED_PREDICTOR.stat().st_size < 5_000_000
    ckpt = load_checkpoint(SHIPPED_PREDICTOR)
    assert "tools/pick_dtjrd.py" in ckpt["command"] and ckpt["data_fingerprint"]
    assert ckpt["test_metrics"]["mae"] < ckpt["test_metrics"]["baseline_mae"]
    pred = create_predictor("dtjrd", device="cpu")
    info = pred.describe()
    assert info["checkpoint"] == str(SHIPPED_PREDICTOR) and not info.get("warnings")
    if not pred.config.feature_inputs:
        assert not any(p.numel() for p in pred.model.backbone.parameters())
    picture = read_crop(bus_jpg)
    dets = create_detector("nanodet").detect([picture])[0]
    objs = pred.predict(picture, dets)
    assert len(objs) == len(dets) and all(0 <= o.jrd <= 63 for o in objs)
    # the box matters: the same detections shrunk to a quarter of their size get other JRDs
    small = Detections(dets.width, dets.height, tuple(
        Detection((d.box[0], d.box[1], d.box[0] + (d.box[2] - d.box[0]) / 4, d.box[1] + (d.box[3] - d.box[1]) / 4),
                  d.class_id, d.label, d.score) for d in dets))
    assert [o.jrd for o in pred.predict(picture, small)] != [o.jrd for o in objs]
