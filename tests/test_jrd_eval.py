"""jrd-eval and jrd-score on the authors' real OW-JRD label files (crops generated here) and on a trained net."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vcm.cli import main
from vcm.errors import VcmError
from vcm.jrd.data import read_dataset, require_crops, write_synthetic_dataset
from vcm.jrd.scoring import read_per_image, score, score_files, write_per_image

OWJRD = Path(os.environ.get("VCM_OWJRD_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "owjrd"))
needs_owjrd = pytest.mark.skipif(not (OWJRD / "JRD_info.json").exists(),
                                 reason=f"OW-JRD label files not at {OWJRD} (set VCM_OWJRD_DIR)")


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def owjrd_root(tmp_path_factory):
    """The authors' layout with their real labels and splits, and a generated crop for every test object."""
    import cv2

    root = tmp_path_factory.mktemp("owjrd")
    for name in ("JRD_info.json", "train_names.json", "val_names.json", "test_names.json"):
        shutil.copy(OWJRD / name, root / name)
    rng = np.random.default_rng(0)
    for name in json.loads((OWJRD / "test_names.json").read_text())["names"]:
        (root / name).mkdir()
        h, w = (int(v) for v in rng.integers(8, 24, size=2))
        cv2.imwrite(str(root / name / f"{name}.png"), rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
    return root


@needs_owjrd
def test_real_label_files_are_read(owjrd_root):
    ds = read_dataset(owjrd_root)
    assert ds.layout == "owjrd" and ds.crop_root == owjrd_root
    assert len(ds.labels) == 29218
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 23251, "val": 3027, "test": 2940}
    test = np.array([ds.labels[n] for n in ds.names("test")])
    assert np.median(test) == 41 and abs(np.abs(test - 41).mean() - 7.499) < 5e-4
    # the test split's order and labels are those of the authors' ground-truth file
    gt = read_per_image(OWJRD / "GTJRD_img_objects.json")
    assert list(gt) == ds.names("test") and all(gt[n] == ds.labels[n] for n in gt)
    require_crops(ds, ds.names("test"))  # all generated, all readable
    with pytest.raises(VcmError) as e:
        require_crops(ds, ds.names("val"))
    assert "3027 crops missing" in str(e.value) and ds.names("val")[0] in str(e.value)


@needs_owjrd
def test_jrd_score_of_ground_truth_and_of_a_constant(tmp_path):
    gt = OWJRD / "GTJRD_img_objects.json"
    r = CliRunner().invoke(main, ["jrd-score", "--gt", str(gt), "--pred", str(gt)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "MAE: 0.000"
    assert "exact accuracy: 100.00 %" in r.output and "MAE 7.499" in r.output  # the median-41 baseline

    d = json.loads(gt.read_text())
    pred = {img: {"objects": e["objects"], "bboxs": e["bboxs"], "PreOWJRD": [41] * len(e["objects"])}
            for img, e in d.items()}
    (tmp_path / "c41.json").write_text(json.dumps(pred))
    r = CliRunner().invoke(main, ["jrd-score", "--gt", str(gt), "--pred", str(tmp_path / "c41.json")])
    assert r.exit_code == 0 and r.output.splitlines()[0] == "MAE: 7.499"
    s = score_files(gt, tmp_path / "c41.json")
    truth = np.array([v for e in d.values() for v in e["OWJRD"]])
    assert s.n == 2940 and s.mean_signed_error == pytest.approx(float((41 - truth).mean()))
    mid = (truth >= 27) & (truth <= 51)
    assert s.mae_27_51 == pytest.approx(float(np.abs(truth[mid] - 41).mean())) and s.n_27_51 == int(mid.sum())
    assert s.acc_within_5 == pytest.approx(float((np.abs(truth - 41) <= 5).mean()))

    r = CliRunner().invoke(main, ["jrd-score", "--gt", str(gt), "--pred", str(tmp_path / "c41.json"), "--json", "-"])
    assert json.loads(r.output)["mae"] == pytest.approx(7.4993, abs=1e-4)

    # a prediction file that misses objects, or is not JSON: exit 2 with one line naming the file
    first = next(iter(pred))
    del pred[first]
    (tmp_path / "short.json").write_text(json.dumps(pred))
    r = CliRunner().invoke(main, ["jrd-score", "--gt", str(gt), "--pred", str(tmp_path / "short.json")])
    assert r.exit_code == 2 and "short.json" in r.output and "no prediction" in r.output
    (tmp_path / "bad.json").write_text("{")
    r = CliRunner().invoke(main, ["jrd-score", "--gt", str(tmp_path / "bad.json"), "--pred", str(gt)])
    assert r.exit_code == 2 and "bad.json" in r.output and len(r.output.strip().splitlines()) == 1


@needs_owjrd
def test_jrd_eval_of_a_constant_on_the_real_test_split(owjrd_root, tmp_path):
    """`fixed:41` through jrd-eval on the authors' split gives the paper's constant baseline, 7.499."""
    out = tmp_path / "eval.json"
    pred = tmp_path / "pred.json"
    r = CliRunner().invoke(main, ["jrd-eval", str(owjrd_root), "--jrd", "fixed:41", "--split", "test", "-q",
                                  "--json", str(out), "--pred-out", str(pred)])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "MAE: 7.499"
    assert "constant-median baseline (predict 41)" in r.output  # the training split's median
    saved = json.loads(out.read_text())
    assert saved["scores"]["n"] == 2940 and saved["predictor"] == {"predictor": "fixed:41"}
    # the per-image file it wrote scores the same against the authors' ground truth
    assert score_files(OWJRD / "GTJRD_img_objects.json", pred).mae == pytest.approx(saved["scores"]["mae"])

    r = CliRunner().invoke(main, ["jrd-eval", str(owjrd_root), "--jrd", "fixed:41", "--split", "val", "-q"])
    first_val = json.loads((OWJRD / "val_names.json").read_text())["names"][0]
    assert r.exit_code == 2 and "3027 crops missing" in r.output and first_val in r.output


def test_jrd_eval_of_a_trained_net_agrees_with_jrd_score(tmp_path):
    """Train a tiny net briefly, evaluate it, and score its per-image output with jrd-score."""
    from vcm.pipelines.train import TrainConfig, train

    ds = write_synthetic_dataset(tmp_path / "ds", n=90, seed=7)
    train(TrainConfig(ds.root, tmp_path / "m.pt", backbone="tiny", epochs=2, batch_size=16, workers=0, threads=1,
                      progress=False, device="cpu"), log=lambda s: None)
    # boxes in the original pictures, as `vcm label` lists them in labels.csv, go into the per-image file
    rows = ["picture,name,x1,y1,x2,y2"] + [f"{n[:5]}.png,{n},{i},{i + 1},{i + 30},{i + 40}"
                                            for i, n in enumerate(ds.names("all"))]
    (ds.root / "labels.csv").write_text("\n".join(rows) + "\n")
    pred = tmp_path / "pred.json"
    r = CliRunner().invoke(main, ["jrd-eval", str(ds.root), "--jrd", f"dtjrd:{tmp_path / 'm.pt'}", "--device", "cpu",
                                  "--batch-size", "4", "--pred-out", str(pred), "-q"])
    assert r.exit_code == 0, r.output
    mae = float(r.output.splitlines()[0].split()[1])
    assert "checkpoint_sha256" in r.output
    truth = {n: ds.labels[n] for n in ds.names("test")}
    write_per_image(tmp_path / "gt.json", truth, key="OWJRD")
    r = CliRunner().invoke(main, ["jrd-score", "--gt", str(tmp_path / "gt.json"), "--pred", str(pred)])
    assert r.exit_code == 0 and float(r.output.splitlines()[0].split()[1]) == pytest.approx(mae, abs=1e-3)
    first = ds.names("test")[0]
    entry = json.loads(pred.read_text())[f"{first[:5]}.png"]  # the picture column of labels.csv
    i = ds.names("all").index(first)
    assert entry["bboxs"][entry["objects"].index(first)] == [i, i + 1, i + 30, i + 40]
    preds = read_per_image(pred)
    assert set(preds) == set(truth) and all(float(v).is_integer() and 0 <= v <= 63 for v in preds.values())


def test_scores_on_hand_made_numbers():
    s = score([30, 40, 50, 60], [33, 40, 44, 60], baseline_median=45)
    assert s.mae == pytest.approx(9 / 4) and s.mean_signed_error == pytest.approx(-3 / 4)
    assert s.n_27_51 == 3 and s.mae_27_51 == pytest.approx(3.0)
    assert s.acc_exact == 0.5 and s.acc_within_3 == 0.75 and s.acc_within_5 == 0.75
    assert s.baseline_mae == pytest.approx((15 + 5 + 5 + 15) / 4)
    assert s.lines()[0] == "MAE: 2.250"
    with pytest.raises(ValueError):
        score([1, 2], [1])


def test_help_shows_examples():
    for cmd, example in (("jrd-eval", "vcm jrd-eval labels/ --jrd dtjrd:dtjrd.pt"),
                         ("jrd-score", "vcm jrd-score --gt"), ("train", "vcm train labels/")):
        r = CliRunner().invoke(main, [cmd, "--help"])
        assert r.exit_code == 0 and example in r.output, r.output


@pytest.mark.slow
def test_label_train_eval_encode_end_to_end(tmp_path):
    """Real pictures labelled by `vcm label` (libvvenc + hog-person), a tiny net trained on the crops, scored
    by jrd-eval, then used by `vcm encode --jrd dtjrd:CKPT`: the whole DT-JRD path on real data."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bb", Path(__file__).resolve().parents[1] / "tools" / "bench_benchmark.py")
    bb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bb)
    pics = bb.write_bundled_set(tmp_path / "pics")
    run = CliRunner().invoke
    r = run(main, ["label", str(tmp_path / "pics"), "-o", str(tmp_path / "ds"), "--qps", "24-63", "--qp-step", "3", "-q"])
    assert r.exit_code in (0, 1), r.output
    ds = read_dataset(tmp_path / "ds")
    assert ds.layout == "vcm" and ds.names("train") and ds.names("val") and ds.names("test")
    ckpt = tmp_path / "m.pt"
    r = run(main, ["train", str(ds.root), "-o", str(ckpt), "--backbone", "tiny", "--size", "64", "--epochs", "2",
                   "--batch-size", "4", "--workers", "0", "--threads", "1", "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    pred = tmp_path / "pred.json"
    r = run(main, ["jrd-eval", str(ds.root), "--jrd", f"dtjrd:{ckpt}", "--split", "all", "--pred-out", str(pred), "-q"])
    assert r.exit_code == 0, r.output
    assert f"objects: {len(ds.labels)}" in r.output
    per_image = json.loads(pred.read_text())
    assert all(k in {p.name for p in pics} for k in per_image)  # keyed by the real picture files
    assert all(len(b) == 4 for e in per_image.values() for b in e["bboxs"])
    bus = next(p for p in pics if p.name.startswith("bus"))
    r = run(main, ["encode", str(bus), "--jrd", f"dtjrd:{ckpt}", "-o", str(tmp_path / "bus.266"),
                   "--json", str(tmp_path / "bus.json")])
    assert r.exit_code == 0, r.output
    enc = json.loads((tmp_path / "bus.json").read_text())
    kept = [o for o in enc["objects"] if o["status"] != "below keep score"]  # weaker boxes get no JRD
    assert kept and all(o["jrd_source"] == "dtjrd" for o in kept)
    assert enc["settings"]["predictor_info"]["checkpoint_sha256"] == __import__("vcm.jrd.dtjrd", fromlist=["x"]).file_sha256(ckpt)
