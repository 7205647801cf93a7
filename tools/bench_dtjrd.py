"""DT-JRD speed on this machine: crops per second of ViT-B/32 and ViT-L/32 at 384 (batch 1 and 32) and the
time of one training step, measured side by side so the ratios hold even on a busy machine.

    python tools/bench_dtjrd.py                          ViT-B/32 and ViT-L/32, batches 1 and 32, train batch 8
    python tools/bench_dtjrd.py --backbones tiny --size 32 --batches 1,4 --train-batch 4   (seconds; smoke run)

Weights are random (no ViT weights install offline): speed does not depend on them. "crop" time covers the
predictor's own preprocessing (stretch-resize of a 160x320 RGB crop + normalisation) plus the network.
Prints a Markdown table; --json writes the numbers too.
"""
from __future__ import annotations

import argparse
import json
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


def bench_backbone(backbone: str, size: int | None, batches: list[int], train_batch: int, repeats: int) -> dict:
    import numpy as np
    import torch

    from vcm.jrd.data import preprocess
    from vcm.jrd.loss import JRDLoss
    from vcm.jrd.model import ModelConfig, build_model, freeze_embeddings

    config = ModelConfig.for_backbone(backbone, **({"img_size": size} if size else {}))
    torch.manual_seed(0)
    model = build_model(config).eval()
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, size=(320, 160, 3), dtype=np.uint8)
    pre_s = _time(lambda: preprocess(crop, config.img_size, config.resize, config.mean, config.std), 20)
    row = {"backbone": backbone, "timm": config.backbone, "img_size": config.img_size,
           "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
           "preprocess_ms": round(1000 * pre_s, 2), "infer": {}}
    for b in batches:
        x = torch.randn(b, 3, config.img_size, config.img_size)

        def run():
            with torch.inference_mode():
                model(x)

        s = _time(run, repeats if b == 1 else max(1, repeats // 2))
        row["infer"][b] = {"batch_s": round(s, 4), "crops_per_s": round(b / (s + b * pre_s), 3)}
    freeze_embeddings(model)
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                          weight_decay=5e-5)
    loss_fn = JRDLoss()
    x = torch.randn(train_batch, 3, config.img_size, config.img_size)
    y = torch.randint(0, 64, (train_batch,))

    def step():
        loss = loss_fn(model(x), y)
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
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats (best taken) after a warm-up")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's choice]")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    rows = [bench_backbone(b.strip(), args.size, batches, args.train_batch, args.repeats)
            for b in args.backbones.split(",")]
    result = {"machine": f"{platform.machine()} {torch.get_num_threads()} torch threads, "
                         f"{'cuda' if torch.cuda.is_available() else 'no GPU'}", "torch": torch.__version__,
              "rows": rows}
    print(f"machine: {result['machine']}, torch {torch.__version__}")
    head = ["backbone", "input", "params (M)", "preprocess (ms/crop)"]
    head += [f"crops/s batch {b}" for b in batches]
    if len(batches) > 1:
        head.append(f"batch {batches[-1]} / batch {batches[0]}")
    head += ["train step (s)", "train crops/s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["backbone"], str(r["img_size"]), f"{r['params_M']}", f"{r['preprocess_ms']}"]
        cells += [f"{r['infer'][b]['crops_per_s']:.3f}" for b in batches]
        if len(batches) > 1:
            cells.append(f"{r['infer'][batches[-1]]['crops_per_s'] / r['infer'][batches[0]]['crops_per_s']:.2f}")
        cells += [f"{r['train']['step_s']:.3f} (batch {r['train']['batch']})", f"{r['train']['crops_per_s']:.3f}"]
        print("| " + " | ".join(cells) + " |")
    if len(rows) > 1:
        b = batches[0]
        base = rows[0]["infer"][b]["crops_per_s"]
        for r in rows[1:]:
            print(f"{r['backbone']} / {rows[0]['backbone']} crops/s at batch {b}: "
                  f"{r['infer'][b]['crops_per_s'] / base:.3f}; train step time ratio: "
                  f"{r['train']['step_s'] / rows[0]['train']['step_s']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
