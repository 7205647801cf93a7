"""`dtjrd:CKPT`: predict each object's JRD with a trained DT-JRD network, and the checkpoint format.

A checkpoint is self-describing (model config, classes, input size, normalisation, data fingerprint,
validation metrics), so `create_predictor("dtjrd:model.pt")` needs nothing else. Checkpoints hold only
tensors and plain Python values and are loaded with `torch.load(weights_only=True)`.

A checkpoint of a network on a backbone with known offline weights (vit-s14) may hold only the trained
tensors (`save_predictor`: the head, plus the trained blocks for last:K): `backbone_weights` records the
weights file's sha256 and the rest is rebuilt from the weights folder at load time (a head-only predictor
is ~100 kB). `dtjrd` with no path uses the predictor shipped in vcm/data when the install has one.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vcm.errors import VcmError
from vcm.jrd.base import NUM_CLASSES, JRDPredictor
from vcm.jrd.data import crop_object, preprocess
from vcm.jrd.model import DECODES, DTJRDNet, ModelConfig, build_model, decode_logits
from vcm.types import Detections, ObjectJRD

CHECKPOINT_FORMAT = "vcm-dtjrd"
CHECKPOINT_VERSION = 1
SHIPPED_PREDICTOR = Path(__file__).resolve().parent.parent / "data" / "dtjrd_vit_s14.pt"
# below these split sizes a validation MAE says little: `vcm train` warns and records it in the checkpoint
MIN_TRAIN_CROPS = 100
MIN_VAL_CROPS = 30
FORCE_ENV = "VCM_DTJRD_FORCE"  # =1: use a checkpoint that did worse than its constant baseline anyway


def split_size_warnings(n_train: int, n_val: int) -> list[str]:
    """Why a training run on these split sizes cannot be trusted (empty: it can, as far as sizes go)."""
    out = []
    if n_train < MIN_TRAIN_CROPS:
        out.append(f"only {n_train} training crops (< {MIN_TRAIN_CROPS}): the network cannot learn much")
    if n_val < MIN_VAL_CROPS:
        out.append(f"only {n_val} validation crops (< {MIN_VAL_CROPS}): the validation MAE, and the epoch "
                   "it picks, are noise")
    return out


def worse_than_baseline(ckpt: dict[str, Any]) -> str | None:
    """The reason a checkpoint must not be used as a predictor: its best validation MAE is worse than always
    predicting the training median (None otherwise, or when it records no validation)."""
    v = ckpt.get("val_metrics") or {}
    if "mae" not in v or "baseline_mae" not in v:
        return None
    if float(v["mae"]) > float(v["baseline_mae"]) + 1e-9:
        return (f"its validation MAE {float(v['mae']):.3f} is worse than the constant baseline's "
                f"{float(v['baseline_mae']):.3f} (predict {v.get('baseline_median', '?')} for everything)")
    return None


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a checkpoint."""
    from vcm.fsutil import atomic_path

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def make_checkpoint(model: DTJRDNet, config: ModelConfig, *, backbone: Any = None, trained: Sequence[str] | None = None,
                    **extra: Any) -> dict[str, Any]:
    """The checkpoint dict of a model: config, classes, CPU float32 weights, plus `extra` (metrics etc.).

    With `backbone` (a vcm.jrd.backbones.BackboneRef) and `trained` (parameter names), only the trained
    tensors are stored and the backbone is recorded by name and sha256 (rebuilt from the weights folder)."""
    full = model.state_dict()
    if backbone is not None:
        keep = set(trained or []) | {k for k in full if k.startswith("head.")}
        full = {k: v for k, v in full.items() if k in keep}
        extra["backbone_weights"] = backbone.to_json() if hasattr(backbone, "to_json") else dict(backbone)
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
             for k, v in full.items()}
    import timm

    from vcm import __version__

    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config.to_json(),
            "classes": list(range(config.num_classes)), "state_dict": state,
            "software": {"vcm": str(__version__), "torch": str(torch.__version__), "timm": str(timm.__version__)}, **extra}


def save_predictor(path: str | Path, model: DTJRDNet, config: ModelConfig, *, variant: str, trained: Sequence[str],
                   backbone: Any, **extra: Any) -> Path:
    """Write the shippable form of a trained network: its trained tensors only, atomically, weights_only-safe."""
    ckpt = make_checkpoint(model, config, backbone=backbone, trained=trained, variant=variant, **extra)
    atomic_torch_save(ckpt, path)
    return Path(path)


def load_predictor(path: str | Path, backbone_weights: str | Path | None = None) -> tuple[DTJRDNet, ModelConfig, dict[str, Any]]:
    """(model in eval mode, config, checkpoint dict) of any vcm DT-JRD checkpoint, partial or full;
    `backbone_weights` overrides the weights-folder file of a partial one (its sha256 must still match)."""
    ckpt = load_checkpoint(path)
    model, config = model_from_checkpoint(ckpt, path, backbone_weights)
    return model, config, ckpt


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a vcm DT-JRD checkpoint (weights_only); VcmError naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise VcmError("checkpoint not found", path=path, fix="train one with `vcm train DATA -o CKPT`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise VcmError(f"cannot read checkpoint ({type(e).__name__})", path=path,
                       fix="pass a checkpoint written by `vcm train`") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise VcmError("not a vcm DT-JRD checkpoint", path=path, fix="pass a checkpoint written by `vcm train`")
    if int(ckpt.get("version", 0)) > CHECKPOINT_VERSION:
        raise VcmError(f"checkpoint version {ckpt['version']} is newer than this vcm reads ({CHECKPOINT_VERSION})",
                       path=path, fix="upgrade vcm")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "",
                          backbone_weights: str | Path | None = None) -> tuple[DTJRDNet, ModelConfig]:
    config = ModelConfig.from_json(ckpt["config"])
    ref = ckpt.get("backbone_weights")
    if ref and not config.feature_inputs:  # a head on the box inputs alone never runs the backbone: none is built
        placeholder = torch.nn.Module()
        placeholder.embed_dim = 0
        model = DTJRDNet(placeholder, config.num_classes, inputs=len(config.inputs), features=False)
    elif ref:
        from vcm.jrd.backbones import FETCH_FIX, vit_s14_path, weights_sha256

        if ref.get("name") != "vit-s14":
            raise VcmError(f"checkpoint needs backbone weights {ref.get('name')!r}, which this vcm does not know",
                           path=path or None, fix="upgrade vcm")
        wpath = vit_s14_path(backbone_weights)
        if weights_sha256(wpath) != ref.get("sha256"):
            raise VcmError(f"the backbone weights {wpath} are not the ones this checkpoint was trained on "
                           f"(sha256 {weights_sha256(wpath)[:12]}..., checkpoint wants {str(ref.get('sha256'))[:12]}...)",
                           path=path or None, fix=FETCH_FIX)
        model = build_model(config, pretrained=str(wpath))
    else:
        model = build_model(config, pretrained=None)
    try:
        if ref:
            missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
            if unexpected or any(k.startswith("head.") for k in missing):
                raise RuntimeError(f"unexpected {unexpected[:3]}, missing {[k for k in missing if k.startswith('head.')]}")
        else:
            model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise VcmError(f"checkpoint weights do not fit {config.backbone} ({str(e).splitlines()[0]})", path=path or None,
                       fix="re-train, or use the vcm/timm versions it was written with") from None
    return model.eval(), config


def resolve_device(device: str | None) -> torch.device:
    """"auto"/None -> cuda when available, else cpu; anything else as torch spells it."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise VcmError(f"unknown device {device!r}", fix="use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VcmError(f"device {device} asked for but no CUDA GPU is usable", fix="use --device cpu or auto")
    return dev


class DTJRDPredictor(JRDPredictor):
    """Crops each detection from the original picture and predicts its JRD in batches."""

    name = "dtjrd"

    def __init__(self, checkpoint_path: str | None, device: str | None = None, batch_size: int = 32,
                 decode: str | None = None, precision: str = "fp32",
                 backbone_weights: str | None = None, force: bool = False, **_: Any):
        if not checkpoint_path:
            if not SHIPPED_PREDICTOR.is_file():
                raise VcmError("dtjrd needs a checkpoint (this install ships none)",
                               fix="use --jrd dtjrd:PATH/TO/model.pt")
            checkpoint_path = str(SHIPPED_PREDICTOR)
        self.path = Path(checkpoint_path)
        ckpt = load_checkpoint(self.path)
        bad = worse_than_baseline(ckpt)
        self.warnings = list(ckpt.get("warnings") or []) + ([bad] if bad else [])
        if bad and not (force or os.environ.get(FORCE_ENV) == "1"):
            raise VcmError(f"this DT-JRD checkpoint is not fit to predict: {bad}", path=self.path,
                           fix=f"train it on more labelled crops, or set {FORCE_ENV}=1 to use it anyway")
        self.model, self.config = model_from_checkpoint(ckpt, self.path, backbone_weights)
        if "prior" in self.config.inputs:  # the head learned on the prior table's numbers: the same table only
            from vcm.jrd.prior import load_prior

            if ckpt.get("prior_sha256") != load_prior()["sha256"]:
                raise VcmError("this DT-JRD checkpoint takes the box-size prior as an input, and this vcm ships "
                               "another prior table", path=self.path, fix="re-train it (tools/pick_dtjrd.py)")
        self.decode = decode or self.config.decode
        if self.decode not in DECODES:
            raise VcmError(f"unknown decode {self.decode!r}", fix=f"use one of {', '.join(DECODES)}")
        if precision not in ("fp32", "bf16"):
            raise VcmError(f"unknown precision {precision!r}", fix="use fp32 or bf16")
        self.precision = precision
        self.device = resolve_device(device)
        self.model.to(self.device)
        # bf16 on a CPU: bf16 weights, not autocast (which re-casts every weight at every call); on CPUs with
        # AMX / AVX512-BF16 that is 2-3x faster than fp32 (see docs/DTJRD.md). The head stays fp32.
        self._bf16_weights = precision == "bf16" and self.device.type == "cpu"
        if self._bf16_weights:
            self.model.backbone.to(torch.bfloat16)
        self.batch_size = max(1, int(batch_size))
        self.sha256 = file_sha256(self.path)
        self.val_metrics = ckpt.get("val_metrics", {})
        self.data_fingerprint = ckpt.get("data_fingerprint", "")
        self.variant = ckpt.get("variant") or ckpt.get("train_config", {}).get("strategy", "")
        self.backbone_weights = ckpt.get("backbone_weights") or {}

    def describe(self) -> dict[str, Any]:
        return {"predictor": self.name, "checkpoint": str(self.path), "checkpoint_sha256": self.sha256,
                "backbone": self.config.backbone, "img_size": self.config.img_size, "resize": self.config.resize,
                "decode": self.decode, "precision": self.precision, "data_fingerprint": self.data_fingerprint,
                **({"inputs": list(self.config.inputs), "feature_inputs": self.config.feature_inputs}
                   if self.config.inputs else {}),
                "variant": self.variant, "backbone_sha256": self.backbone_weights.get("sha256", ""),
                **({"warnings": self.warnings} if self.warnings else {})}

    @property
    def inputs(self) -> tuple[str, ...]:
        """The per-object inputs (vcm.jrd.inputs) the head takes beside the crop; () for DT-JRD's own head."""
        return tuple(self.config.inputs)

    def logits(self, crops: Sequence[np.ndarray], inputs: np.ndarray | None = None) -> torch.Tensor:
        """Logits (N, 64) for RGB uint8 crops (and, for a head that takes them, the (N, K) per-object inputs),
        batch by batch, on the predictor's device."""
        c = self.config
        if c.inputs and (inputs is None or len(inputs) != len(crops)):
            raise VcmError(f"this DT-JRD predictor also needs each object's {', '.join(c.inputs)}", path=self.path,
                           fix="predict from a picture and its detections, or give a dataset with labels.csv")
        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch_size):
                extra = torch.from_numpy(np.asarray(inputs[i:i + self.batch_size], np.float32)).to(self.device) \
                    if c.inputs else None
                if not c.feature_inputs:  # a head on the box inputs alone: no backbone pass
                    out.append(self.model.head_of(None, extra).float().cpu())
                    continue
                x = np.stack([preprocess(r, c.img_size, c.resize, c.mean, c.std) for r in crops[i:i + self.batch_size]])
                xt = torch.from_numpy(x).to(self.device, non_blocking=True)
                if self._bf16_weights:
                    feats = self.model.features(xt.to(torch.bfloat16)).float()
                    out.append(self.model.head_of(feats, extra).cpu())
                    continue
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                    out.append(self.model(xt, extra).float().cpu())
        return torch.cat(out) if out else torch.zeros((0, c.num_classes))

    def predict_crops(self, crops: Sequence[np.ndarray], inputs: np.ndarray | None = None) -> list[tuple[int, dict[str, Any]]]:
        """(jrd, info) per crop; info has the softmax expectation and the 3 most likely QPs. `inputs`: the
        (N, K) per-object inputs of a head that takes them (vcm.jrd.inputs.object_inputs)."""
        logits = self.logits(crops, inputs)
        if len(logits) == 0:
            return []
        jrd, expectation, probs = decode_logits(logits, self.decode)
        top_p, top_c = probs.topk(3, dim=-1)
        return [(int(jrd[i]), {"expectation": round(float(expectation[i]), 4),
                               "probs_top": [[int(c), round(float(p), 4)] for c, p in zip(top_c[i], top_p[i])]})
                for i in range(len(crops))]

    def predict(self, picture: np.ndarray, detections: Detections, others=()) -> list[ObjectJRD]:
        h, w = picture.shape[:2]
        if (detections.width, detections.height) != (w, h) and len(detections):
            raise VcmError(f"detections were made on a {detections.width}x{detections.height} picture, "
                           f"this one is {w}x{h}", fix="predict on the picture the detector saw")
        crops = [crop_object(picture, d.box) for d in detections]
        inputs = None
        if self.config.inputs:
            from vcm.jrd.inputs import object_inputs

            inputs = np.stack([object_inputs(self.config.inputs, d.box, w, h, d.score, d.label) for d in detections]) \
                if len(detections) else np.zeros((0, len(self.config.inputs)), np.float32)
        return [ObjectJRD(d, jrd, self.name, info)
                for d, (jrd, info) in zip(detections, self.predict_crops(crops, inputs))]


__all__ = ["DTJRDPredictor", "make_checkpoint", "load_checkpoint", "save_predictor", "load_predictor", "model_from_checkpoint", "atomic_torch_save",
           "file_sha256", "resolve_device", "NUM_CLASSES",
           "split_size_warnings", "worse_than_baseline", "MIN_TRAIN_CROPS", "MIN_VAL_CROPS", "FORCE_ENV"]
