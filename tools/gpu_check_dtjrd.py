"""One prepared GPU check of DT-JRD (vit-s14 at 224, full fine-tuning in bf16), meant to finish within 5 minutes:

  1. network-only inference speed, bf16 autocast vs fp32, batch 1 and 64 (crops per second);
  2. one training epoch of `vcm train`'s pipeline on generated crops, variant `all` (every weight, bf16
     autocast, DataLoader workers), which writes a real checkpoint; peak GPU memory;
  3. the head variant on the same crops: backbone features computed once into the cache (crops/s), then
     the head fitted on them;
  4. the `all` checkpoint loaded as `dtjrd:CKPT` and run over the test split through `jrd-eval`'s pipeline
     (preprocessing included), bf16 and fp32, with the agreement of their predictions.

    python tools/gpu_check_dtjrd.py --weights weights/vit_s14.pt     on a GPU machine (results also in $OUT)
    python tools/gpu_check_dtjrd.py --backbone vit-l32 --size 384      the paper's backbone (random weights)
    python tools/gpu_check_dtjrd.py --cpu-smoke      tiny ViT, 32 px, CPU (bf16 autocast too), ~20 s: checks
                                                     the script itself

The vit-s14 weights: `--weights auto` takes the weights folder's ONNX file when it is there. The device
machine is offline and gets at most 64 MiB beside the tree, less than the 97 MB ONNX file, so export a bf16
timm state dict (43 MB) first and carry it:
    python tools/gpu_check_dtjrd.py --export-weights weights/vit_s14.pt
Without weights the backbone is random: speeds and a working pipeline, not accuracy (the crops are generated).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def _sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def infer_speed(torch, model, device, size: int, batch: int, bf16: bool, seconds: float = 5.0) -> float:
    """Crops per second of the network alone at one batch size (warm-up, then as many runs as fit `seconds`)."""
    x = torch.randn(batch, 3, size, size, device=device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for _ in range(3):
            model(x)
        _sync(torch, device)
        n, t0 = 0, time.perf_counter()
        while True:
            model(x)
            n += 1
            if n >= 3 and time.perf_counter() - t0 > seconds / 4:
                _sync(torch, device)
                if time.perf_counter() - t0 > seconds or n >= 200:
                    break
        _sync(torch, device)
        return n * batch / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny ViT at 32 px on the CPU (checks this script)")
    ap.add_argument("--crops", type=int, default=4096, help="generated crops (70 %% train, 15 %% val, 15 %% test)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers [default: min(12, CPUs)]")
    ap.add_argument("--budget-s", type=float, default=270.0, help="skip the remaining steps past this time")
    ap.add_argument("--out", default=os.environ.get("OUT") or None, help="folder for the JSON result [default: $OUT]")
    ap.add_argument("--backbone", default="vit-s14", help="vit-s14, vit-b32, vit-l32 or a timm name")
    ap.add_argument("--size", type=int, default=None, help="input size [default: the backbone's, 224 for vit-s14]")
    ap.add_argument("--weights", default="auto",
                    help="auto (vit-s14: the weights folder if there, else random), none, or a weights file (.onnx "
                         "or a timm state dict written by --export-weights)")
    ap.add_argument("--export-weights", default=None, metavar="PT",
                    help="write vit-s14's backbone as a bf16 timm state dict (43 MB) to PT and exit")
    args = ap.parse_args(argv)

    import torch

    if args.export_weights:
        from vcm.jrd.backbones import create_vit_s14

        sd = {k: v.to(torch.bfloat16) for k, v in create_vit_s14(224).state_dict().items()}
        Path(args.export_weights).parent.mkdir(parents=True, exist_ok=True)
        torch.save(sd, args.export_weights)
        print(f"wrote {args.export_weights} ({Path(args.export_weights).stat().st_size / 1e6:.1f} MB)")
        return {"exported": args.export_weights}

    from vcm.pipelines.jrd_eval import evaluate
    from vcm.pipelines.train import TrainConfig, train
    from vcm.jrd.data import write_synthetic_dataset
    from vcm.errors import VcmError
    from vcm.jrd.model import ModelConfig, build_model

    t_start = time.perf_counter()
    smoke = args.cpu_smoke
    if smoke:
        torch.set_num_threads(1)  # a tiny model on a shared CPU: one thread is fastest
    device = torch.device("cpu" if smoke or not torch.cuda.is_available() else "cuda")
    backbone = "tiny" if smoke else args.backbone
    size = 32 if smoke else (args.size or ModelConfig.for_backbone(backbone).img_size)
    weights = args.weights
    if smoke or weights == "none":
        weights = "none"
    elif weights == "auto":
        weights = "none"
        if backbone == "vit-s14":
            try:
                from vcm.jrd.backbones import vit_s14_path

                weights = str(vit_s14_path())
            except VcmError:
                pass
    crops = min(args.crops, 120) if smoke else args.crops
    workers = args.workers if args.workers is not None else (0 if smoke else min(12, os.cpu_count() or 1))
    res: dict = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({platform.machine()})",
                 "torch": torch.__version__, "backbone": backbone, "img_size": size, "smoke": smoke,
                 "weights": weights, "steps": {}}
    if device.type == "cpu" and not smoke:
        res["warning"] = "no CUDA device: ran on the CPU, numbers are not GPU numbers"
    print(f"device: {res['device']}, torch {torch.__version__}", flush=True)

    def left() -> float:
        return args.budget_s - (time.perf_counter() - t_start)

    # 1. network-only inference
    config = ModelConfig.for_backbone(backbone, img_size=size)
    model = build_model(config, pretrained=weights).to(device).eval()
    speed = {}
    for bf16 in ([True, False] if device.type == "cuda" else [False]):
        for b in (1, 64 if not smoke else 8):
            if left() < 200 and not smoke:
                break
            cps = infer_speed(torch, model, device, size, b, bf16, seconds=0.5 if smoke else 6.0)
            speed[f"{'bf16' if bf16 else 'fp32'}_batch{b}"] = round(cps, 1)
            print(f"inference {'bf16' if bf16 else 'fp32'} batch {b}: {cps:.1f} crops/s", flush=True)
    res["steps"]["inference_crops_per_s"] = speed
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()

    with tempfile.TemporaryDirectory(prefix="dtjrd-gpu-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        ds = write_synthetic_dataset(tmp / "ds", n=crops, seed=0, min_side=48 if not smoke else 24,
                                     max_side=256 if not smoke else 48)
        res["steps"]["generate_s"] = round(time.perf_counter() - t, 1)
        res["dataset"] = {k: len(v) for k, v in ds.splits.items()}
        print(f"generated {crops} crops in {res['steps']['generate_s']} s: {res['dataset']}", flush=True)

        # 2. one training epoch (bf16 autocast on GPU), through the real pipeline
        if left() > 60 or smoke:
            t = time.perf_counter()
            tr = train(TrainConfig(ds.root, tmp / "m.pt", backbone=backbone, img_size=size, epochs=1,
                                   batch_size=args.batch_size, workers=workers, device=str(device),
                                   pretrained=weights, progress=False, strategy="all",
                                   precision="bf16" if smoke else "auto"), log=lambda s: print(s, flush=True))
            sec = time.perf_counter() - t
            n_train = res["dataset"]["train"]
            res["steps"]["train_epoch"] = {"seconds": round(sec, 1), "train_crops": n_train,
                                           "epoch_s": tr.history[-1]["seconds"],
                                           "crops_per_s": round(n_train / tr.history[-1]["seconds"], 1),
                                           "val_mae": tr.history[-1]["val_mae"],
                                           "bf16": device.type == "cuda", "variant": "all"}
            if device.type == "cuda":
                res["steps"]["train_epoch"]["max_memory_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            print(f"train epoch: {res['steps']['train_epoch']}", flush=True)

            # 3. the head variant: features once (cached), then the head alone
            if left() > 45 or smoke:
                os.environ.setdefault("VCM_CACHE_DIR", str(tmp / "cache"))
                t = time.perf_counter()
                hr = train(TrainConfig(ds.root, tmp / "head.pt", backbone=backbone, img_size=size, epochs=10,
                                       batch_size=args.batch_size, device=str(device), pretrained=weights,
                                       progress=False, strategy="head", patience=0, lr=0.05,
                                       precision="fp32"), log=lambda s: print(s, flush=True))
                n_feat = hr.extra["features_computed"]
                res["steps"]["head_variant"] = {
                    "seconds": round(time.perf_counter() - t, 1), "features": n_feat,
                    "feature_s": round(hr.extra["feature_seconds"], 1),
                    "feature_crops_per_s": round(n_feat / max(hr.extra["feature_seconds"], 1e-9), 1),
                    "fit_s": round(sum(h["seconds"] for h in hr.history), 2), "val_mae": hr.best_val.get("mae"),
                    "checkpoint_bytes": (tmp / "head.pt").stat().st_size}
                print(f"head variant: {res['steps']['head_variant']}", flush=True)

            # 4. the checkpoint as dtjrd:CKPT over the test split, bf16 and fp32
            for precision in (["bf16", "fp32"] if device.type == "cuda" or smoke else ["fp32"]):
                if left() < 15 and not smoke:
                    break
                t = time.perf_counter()
                ev = evaluate(ds.root, f"dtjrd:{tmp / 'm.pt'}", split="test", progress=False,
                              predictor_options={"device": str(device), "batch_size": 64, "precision": precision})
                sec = time.perf_counter() - t
                res["steps"][f"jrd_eval_{precision}"] = {"seconds": round(sec, 2), "crops": ev.scores.n,
                                                        "crops_per_s_incl_load": round(ev.scores.n / sec, 1),
                                                        "mae": ev.scores.mae, "preds": ev.preds}
                print(f"jrd-eval {precision}: {ev.scores.n} crops in {sec:.2f} s, MAE {ev.scores.mae:.3f}", flush=True)
            a, b = res["steps"].get("jrd_eval_bf16"), res["steps"].get("jrd_eval_fp32")
            if a and b:
                same = sum(int(x == y) for x, y in zip(a["preds"], b["preds"]))
                res["steps"]["bf16_vs_fp32_same_jrd"] = round(same / len(a["preds"]), 4)
            for k in ("jrd_eval_bf16", "jrd_eval_fp32"):
                if k in res["steps"]:
                    res["steps"][k].pop("preds")
        else:
            res["steps"]["skipped"] = "training and evaluation: time budget spent"
    res["total_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(res, indent=1), flush=True)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_check_dtjrd.json").write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
