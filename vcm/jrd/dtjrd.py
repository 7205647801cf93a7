"""`dtjrd:CKPT`: predict each object's JRD with a trained DT-JRD network, and the checkpoint format.

A checkpoint is self-describing (model config, classes, input size, normalisation, data fingerprint,
validation metrics), so `create_predictor("dtjrd:model.pt")` needs nothing else. Checkpoints hold only
tensors and plain Python values and are loaded with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import hashlib
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


def make_checkpoint(model: DTJRDNet, config: ModelConfig, **extra: Any) -> dict[str, Any]:
    """The checkpoint dict of a model: config, classes, CPU float32 weights, plus `extra` (metrics etc.)."""
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    import timm

    from vcm import __version__

    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config.to_json(),
            "classes": list(range(config.num_classes)), "state_dict": state,
            "software": {"vcm": str(__version__), "torch": str(torch.__version__), "timm": str(timm.__version__)}, **extra}


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


def model_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "") -> tuple[DTJRDNet, ModelConfig]:
    config = ModelConfig.from_json(ckpt["config"])
    model = build_model(config, pretrained=None)
    try:
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
                 decode: str | None = None, precision: str = "fp32", **_: Any):
        if not checkpoint_path:
            raise VcmError("dtjrd needs a checkpoint", fix="use --jrd dtjrd:PATH/TO/model.pt")
        self.path = Path(checkpoint_path)
        ckpt = load_checkpoint(self.path)
        self.model, self.config = model_from_checkpoint(ckpt, self.path)
        self.decode = decode or self.config.decode
        if self.decode not in DECODES:
            raise VcmError(f"unknown decode {self.decode!r}", fix=f"use one of {', '.join(DECODES)}")
        if precision not in ("fp32", "bf16"):
            raise VcmError(f"unknown precision {precision!r}", fix="use fp32 or bf16")
        self.precision = precision
        self.device = resolve_device(device)
        self.model.to(self.device)
        self.batch_size = max(1, int(batch_size))
        self.sha256 = file_sha256(self.path)
        self.val_metrics = ckpt.get("val_metrics", {})
        self.data_fingerprint = ckpt.get("data_fingerprint", "")

    def describe(self) -> dict[str, Any]:
        return {"predictor": self.name, "checkpoint": str(self.path), "checkpoint_sha256": self.sha256,
                "backbone": self.config.backbone, "img_size": self.config.img_size, "resize": self.config.resize,
                "decode": self.decode, "precision": self.precision, "data_fingerprint": self.data_fingerprint}

    def logits(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """Logits (N, 64) for RGB uint8 crops, batch by batch, on the predictor's device."""
        c = self.config
        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch_size):
                x = np.stack([preprocess(r, c.img_size, c.resize, c.mean, c.std) for r in crops[i:i + self.batch_size]])
                xt = torch.from_numpy(x).to(self.device, non_blocking=True)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                    out.append(self.model(xt).float().cpu())
        return torch.cat(out) if out else torch.zeros((0, c.num_classes))

    def predict_crops(self, crops: Sequence[np.ndarray]) -> list[tuple[int, dict[str, Any]]]:
        """(jrd, info) per crop; info has the softmax expectation and the 3 most likely QPs."""
        logits = self.logits(crops)
        if len(logits) == 0:
            return []
        jrd, expectation, probs = decode_logits(logits, self.decode)
        top_p, top_c = probs.topk(3, dim=-1)
        return [(int(jrd[i]), {"expectation": round(float(expectation[i]), 4),
                               "probs_top": [[int(c), round(float(p), 4)] for c, p in zip(top_c[i], top_p[i])]})
                for i in range(len(crops))]

    def predict(self, picture: np.ndarray, detections: Detections) -> list[ObjectJRD]:
        h, w = picture.shape[:2]
        if (detections.width, detections.height) != (w, h) and len(detections):
            raise VcmError(f"detections were made on a {detections.width}x{detections.height} picture, "
                           f"this one is {w}x{h}", fix="predict on the picture the detector saw")
        crops = [crop_object(picture, d.box) for d in detections]
        return [ObjectJRD(d, jrd, self.name, info) for d, (jrd, info) in zip(detections, self.predict_crops(crops))]


__all__ = ["DTJRDPredictor", "make_checkpoint", "load_checkpoint", "model_from_checkpoint", "atomic_torch_save",
           "file_sha256", "resolve_device", "NUM_CLASSES"]
