"""Training a tiny real ViT on generated crops whose JRD is a function of their noise level (CPU, offline)."""
from __future__ import annotations

import csv
import json

import pytest
import torch
from click.testing import CliRunner

from vcm.pipelines.train import TrainConfig, lr_at, side_paths, train
from vcm.cli import main
from vcm.errors import VcmError
from vcm.jrd.data import read_dataset, write_synthetic_dataset
from vcm.jrd.dtjrd import DTJRDPredictor, load_checkpoint


def _quiet(cfg_kwargs):
    # one torch thread: on 2 busy cores two threads made this tiny model ~10x slower (spinning thread sync)
    return dict(dict(backbone="tiny", batch_size=16, lr=0.05, workers=0, progress=False, device="cpu", threads=1),
                **cfg_kwargs)


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 8-epoch run on 480 generated crops (~15 s on 2 cores), shared by the tests below."""
    root = tmp_path_factory.mktemp("train")
    ds = write_synthetic_dataset(root / "ds", n=480, seed=0)
    logs: list[str] = []
    res = train(TrainConfig(root / "ds", root / "m.pt", **_quiet(dict(epochs=8, patience=0))), log=logs.append)
    return ds, res, logs


def test_training_beats_the_constant_median_baseline(trained):
    ds, res, logs = trained
    val = res.best_val
    assert val["n"] == len(ds.names("val"))
    assert val["baseline_mae"] > 5.0  # the labels do spread (16..44)
    assert val["mae"] < 0.65 * val["baseline_mae"], val
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert any("frozen: pos_embed" in line for line in logs)

    # the predictor built from the checkpoint scores the same on the validation split as training said
    from vcm.pipelines.jrd_eval import evaluate

    ev = evaluate(ds.root, f"dtjrd:{res.checkpoint}", split="val", progress=False)
    assert ev.scores.mae == pytest.approx(val["mae"])
    assert ev.scores.baseline_mae == pytest.approx(val["baseline_mae"])
    test = evaluate(ds.root, f"dtjrd:{res.checkpoint}", split="test", progress=False)
    assert test.scores.mae < 0.75 * test.scores.baseline_mae, test.scores


def test_reported_train_mae_is_what_jrd_eval_gives_on_the_saved_checkpoint(trained):
    """The train MAE training reports (and records) is the saved network's on the training crops, as
    `vcm jrd-eval --split train` measures it: not the running MAE of moving weights on flipped crops."""
    from vcm.pipelines.jrd_eval import evaluate

    ds, res, logs = trained
    recorded = load_checkpoint(res.checkpoint)["train_metrics"]
    ev = evaluate(ds.root, f"dtjrd:{res.checkpoint}", split="train", progress=False)
    assert recorded["n"] == len(ds.names("train")) == ev.scores.n
    assert ev.scores.mae == pytest.approx(recorded["mae"], abs=1e-9)
    assert res.extra["train_metrics"]["mae"] == recorded["mae"]
    assert any(f"train MAE {recorded['mae']:.3f}" in line for line in logs)
    assert not load_checkpoint(res.checkpoint)["warnings"]  # 336 / 72 crops: not below the minimums


def test_checkpoint_is_self_describing(trained):
    ds, res, _ = trained
    ckpt = load_checkpoint(res.checkpoint)
    assert ckpt["config"]["img_size"] == 32 and ckpt["config"]["resize"] == "stretch"
    assert ckpt["config"]["backbone_kwargs"]["depth"] == 2
    assert ckpt["classes"] == list(range(64))
    assert ckpt["val_metrics"]["mae"] == res.best_val["mae"] and ckpt["epoch"] == res.best_epoch
    assert len(ckpt["data_fingerprint"]) == 64
    assert ckpt["train_config"]["lr"] == 0.05 and ckpt["train_config"]["strategy"] == "authors"
    assert "optimizer" not in ckpt  # the resume state lives in OUT.last.pt
    last, csv_path = side_paths(res.checkpoint)
    assert "optimizer" in load_checkpoint(last)
    rows = list(csv.DictReader(csv_path.open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    assert float(rows[0]["lr"]) < 0.05 and float(rows[-1]["lr"]) == pytest.approx(0.05 * 0.01)
    assert min(float(r["val_mae"]) for r in rows) == pytest.approx(res.best_val["mae"], abs=1e-5)


def test_cosine_schedule_ends_at_one_percent():
    assert lr_at(0, 100, 0.01, 0.01) == pytest.approx(0.01)
    assert lr_at(99, 100, 0.01, 0.01) == pytest.approx(1e-4)
    assert lr_at(49, 99, 0.01, 0.01) == pytest.approx(0.01 * (0.01 + 0.99 * 0.5))


def test_resumed_run_continues_the_epoch_count_and_matches_an_unbroken_run(tmp_path):
    write_synthetic_dataset(tmp_path / "ds", n=120, seed=3)
    kw = _quiet(dict(patience=0, max_batches=3))
    unbroken = train(TrainConfig(tmp_path / "ds", tmp_path / "a.pt", epochs=3, **kw), log=lambda s: None)

    def interrupt_after_epoch_2(line: str) -> None:  # as if killed right after epoch 2 was saved
        if line.startswith("epoch 2:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(tmp_path / "ds", tmp_path / "b.pt", epochs=3, **kw), log=interrupt_after_epoch_2)
    rows = list(csv.DictReader(side_paths(tmp_path / "b.pt")[1].open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    logs: list[str] = []
    second = train(TrainConfig(tmp_path / "ds", tmp_path / "b.pt", epochs=3, **kw), log=logs.append)
    assert second.resumed_from == 2 and second.epochs_run == 1
    assert [r["epoch"] for r in second.history] == [1, 2, 3]
    assert any("resumed" in line for line in logs)
    for a, b in zip(unbroken.history, second.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5), (a, b)
        assert a["val_mae"] == pytest.approx(b["val_mae"])
    wa = load_checkpoint(side_paths(tmp_path / "a.pt")[0])["state_dict"]
    wb = load_checkpoint(side_paths(tmp_path / "b.pt")[0])["state_dict"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)

    # a finished run has nothing left to do; other settings refuse to resume; --restart starts over
    done = train(TrainConfig(tmp_path / "ds", tmp_path / "b.pt", epochs=3, **kw), log=lambda s: None)
    assert done.epochs_run == 0 and len(done.history) == 3
    with pytest.raises(VcmError, match="different lr"):
        train(TrainConfig(tmp_path / "ds", tmp_path / "b.pt", epochs=4, **dict(kw, lr=0.02)), log=lambda s: None)
    fresh = train(TrainConfig(tmp_path / "ds", tmp_path / "b.pt", epochs=1, resume=False, **kw), log=lambda s: None)
    assert fresh.resumed_from == 0 and [r["epoch"] for r in fresh.history] == [1]


def test_early_stopping_and_full_finetune(tmp_path):
    write_synthetic_dataset(tmp_path / "ds", n=60, seed=4)
    # lr so small nothing improves after epoch 1: stops after 1 + patience epochs
    res = train(TrainConfig(tmp_path / "ds", tmp_path / "m.pt", epochs=10, patience=2, strategy="full",
                            loss="ce", **dict(_quiet({}), lr=1e-9)), log=lambda s: None)
    assert res.stopped_early and len(res.history) == 3 and res.best_epoch == 1
    assert "frozen" in res.extra and res.extra["frozen"] == []
    again = train(TrainConfig(tmp_path / "ds", tmp_path / "m.pt", epochs=10, patience=2, strategy="full",
                              loss="ce", **dict(_quiet({}), lr=1e-9)), log=lambda s: None)
    assert again.epochs_run == 0 and again.stopped_early


def test_missing_and_corrupt_crops_are_named(tmp_path):
    ds = write_synthetic_dataset(tmp_path / "ds", n=30, seed=5)
    gone, broken = ds.names("train")[0], ds.names("val")[0]
    ds.crop_path(gone).unlink()
    ds.crop_path(broken).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(VcmError) as e:
        train(TrainConfig(tmp_path / "ds", tmp_path / "m.pt", epochs=1, **_quiet({})), log=lambda s: None)
    msg = str(e.value)
    assert gone in msg and broken in msg and "missing" in msg and "corrupt" in msg and "\n" not in msg
    assert not (tmp_path / "m.pt").exists()


def test_cli_train_writes_checkpoint_csv_and_resume_state(tmp_path):
    write_synthetic_dataset(tmp_path / "ds", n=60, seed=6)
    out = tmp_path / "cli.pt"
    r = CliRunner().invoke(main, ["train", str(tmp_path / "ds"), "-o", str(out), "--backbone", "tiny", "--epochs",
                                  "2", "--batch-size", "8", "--workers", "1", "--device", "cpu", "--threads", "1",
                                  "-q"])
    assert r.exit_code == 0, r.output
    assert "best: epoch" in r.output and "constant-median baseline" in r.output
    # 42/9 crops: below the minimum split sizes, said at once and recorded in the checkpoint
    assert "WARNING: only 42 training crops" in r.output and "WARNING: only 9 validation crops" in r.output
    assert len(load_checkpoint(out)["warnings"]) == 2
    assert out.exists() and side_paths(out)[0].exists() and side_paths(out)[1].exists()
    pred = DTJRDPredictor(str(out), device="cpu", force=True)  # a 2-epoch model may lose to the constant
    assert pred.describe()["data_fingerprint"] == load_checkpoint(out)["data_fingerprint"]
    r = CliRunner().invoke(main, ["train", str(tmp_path / "nope"), "-o", str(out), "--backbone", "tiny"])
    assert r.exit_code == 2 and "dataset folder not found" in r.output
    r = CliRunner().invoke(main, ["train", "--help"])
    assert r.exit_code == 0 and "vcm train labels/ -o dtjrd.pt" in r.output


def test_reader_accepts_both_layouts(tmp_path):
    a = write_synthetic_dataset(tmp_path / "vcm", n=12, layout="vcm")
    b = write_synthetic_dataset(tmp_path / "authors", n=12, layout="owjrd")
    assert a.layout == "vcm" and a.crop_path("00000_1") == tmp_path / "vcm/crops/00000_1/00000_1.png"
    assert b.layout == "owjrd" and b.crop_path("00000_1") == tmp_path / "authors/00000_1/00000_1.png"
    assert a.labels == b.labels and a.meta["rule"].startswith("jrd =")
    assert sorted(a.names("train") + a.names("val") + a.names("test")) == a.names("all")
    bad = json.loads((tmp_path / "vcm/val_names.json").read_text())
    bad["names"].append("99999_1")
    (tmp_path / "vcm/val_names.json").write_text(json.dumps(bad))
    with pytest.raises(VcmError, match="no label"):
        read_dataset(tmp_path / "vcm")
    (tmp_path / "authors/JRD_info.json").write_text('{"00000_1": 70}')
    with pytest.raises(VcmError, match="outside 0..63"):
        read_dataset(tmp_path / "authors")


def test_two_processes_under_torchrun(tmp_path):
    """DistributedDataParallel on CPU (gloo): one checkpoint, per-epoch rows, the same predictor format."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    vcm = shutil.which("vcm", path=os.path.dirname(sys.executable))
    assert torchrun and vcm, "torchrun and vcm must be installed next to the test interpreter"
    write_synthetic_dataset(tmp_path / "ds", n=60, seed=8)
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", vcm, "train", str(tmp_path / "ds"), "-o",
                        str(out), "--backbone", "tiny", "--epochs", "2", "--batch-size", "8", "--workers", "0",
                        "--device", "cpu", "--threads", "1", "-q"], capture_output=True, text=True, env=env,
                       timeout=240)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "2 process(es)" in p.stdout and p.stdout.count("best: epoch") == 1
    rows = list(csv.DictReader(side_paths(out)[1].open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    ckpt = load_checkpoint(out)
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])  # saved unwrapped
    assert ckpt["val_metrics"]["n"] == len(read_dataset(tmp_path / "ds").names("val"))  # both shards counted
    DTJRDPredictor(str(out), device="cpu", force=True)


def test_tools_run_with_tiny_settings(tmp_path):
    """The benchmark and the prepared GPU check run end to end (tiny ViT, CPU) and report what they promise."""
    import importlib.util
    from pathlib import Path

    def load(name):
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "tools" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    bench = load("bench_dtjrd").main(["--backbones", "tiny", "--batches", "1,4", "--train-batch", "4",
                                      "--repeats", "1", "--threads", "1", "--json", str(tmp_path / "b.json")])
    row = bench["rows"][0]
    assert row["infer"][1]["crops_per_s"] > 0 and row["infer"][4]["crops_per_s"] > 0 and row["train"]["step_s"] > 0
    assert json.loads((tmp_path / "b.json").read_text())["rows"][0]["backbone"] == "tiny"

    res = load("gpu_check_dtjrd").main(["--cpu-smoke", "--out", str(tmp_path / "out")])
    steps = res["steps"]
    assert steps["train_epoch"]["train_crops"] == res["dataset"]["train"] > 0
    assert steps["jrd_eval_bf16"]["crops"] == steps["jrd_eval_fp32"]["crops"] == res["dataset"]["test"]
    assert 0.0 <= steps["bf16_vs_fp32_same_jrd"] <= 1.0
    assert json.loads((tmp_path / "out" / "gpu_check_dtjrd.json").read_text())["smoke"] is True
