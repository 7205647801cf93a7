"""The DT-JRD network: a timm ViT whose patch tokens (not the cls token) are averaged into a 64-way QP head.

The whole architecture is described by a `ModelConfig` (a plain dict in checkpoints), so a checkpoint
rebuilds its own network with no other input. The JRD is the argmax of the head (as the authors) or the
expectation of its softmax (smoother, never off by a whole mode when two QPs tie).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vcm.errors import VcmError
from vcm.jrd.base import NUM_CLASSES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)
NORMALISATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "inception": (INCEPTION_MEAN, INCEPTION_STD)}

DEFAULT_BACKBONE = "vit_large_patch32_384"
# Short names for backbones that need extra timm kwargs. "tiny" is for tests and smoke runs: a 2-block ViT
# with 8-px patches that trains on a CPU in seconds (never pretrained).
BACKBONE_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "vit-l32": ("vit_large_patch32_384", {}),
    "vit-b32": ("vit_base_patch32_384", {}),
    "tiny": ("vit_tiny_patch16_224", {"patch_size": 8, "depth": 2, "embed_dim": 64, "num_heads": 2}),
}
DECODES = ("argmax", "expectation")


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network and feed it (stored in every checkpoint)."""

    backbone: str = DEFAULT_BACKBONE  # timm model name
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)  # extra timm kwargs (depth, patch_size...)
    img_size: int = 384
    num_classes: int = NUM_CLASSES
    resize: str = "stretch"  # "stretch" (no aspect ratio, as the authors) or "letterbox"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    decode: str = "argmax"  # "argmax" or "expectation"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = [float(v) for v in self.mean]
        d["std"] = [float(v) for v in self.std]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ModelConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "mean" in d:
            d["mean"] = tuple(float(v) for v in d["mean"])
        if "std" in d:
            d["std"] = tuple(float(v) for v in d["std"])
        return cls(**d)

    @classmethod
    def for_backbone(cls, backbone: str, **kw: Any) -> "ModelConfig":
        """Resolve an alias (`tiny`, `vit-b32`) or a timm name into a config."""
        name, extra = BACKBONE_ALIASES.get(backbone, (backbone, {}))
        kwargs = dict(extra, **kw.pop("backbone_kwargs", {}))
        if "img_size" not in kw:
            kw["img_size"] = 32 if backbone == "tiny" else 384
        return cls(backbone=name, backbone_kwargs=kwargs, **kw)


class DTJRDNet(nn.Module):
    """ViT backbone -> mean of patch tokens -> linear head with one logit per QP class."""

    def __init__(self, backbone: nn.Module, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.backbone = backbone
        self.num_prefix_tokens = int(getattr(backbone, "num_prefix_tokens", 1))
        self.head = nn.Linear(int(backbone.embed_dim), num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.backbone.forward_features(x)  # (B, prefix + patches, D), after the final norm
        return tokens[:, self.num_prefix_tokens:].mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _create_backbone(config: ModelConfig, pretrained: str | None) -> nn.Module:
    import timm

    kwargs = dict(config.backbone_kwargs)
    kwargs.update(num_classes=0, global_pool="", img_size=config.img_size)
    name = config.backbone
    if not timm.is_model(name):
        raise VcmError(f"unknown timm backbone {name!r}", fix="use e.g. vit_large_patch32_384, vit_base_patch32_384 "
                       "or tiny")
    if pretrained in (None, "", "none"):
        return timm.create_model(name, pretrained=False, **kwargs)
    if pretrained == "hub":
        try:
            return timm.create_model(name, pretrained=True, **kwargs)
        except Exception as e:  # offline, no such tag, hub down: one line that says what to do
            raise VcmError(f"cannot fetch pretrained weights for {name} from the Hugging Face hub "
                           f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})",
                           fix="connect to the hub, or download the weights and pass --pretrained FILE") from None
    path = Path(pretrained)
    if not path.is_file():
        raise VcmError("pretrained weights file not found", path=path,
                       fix="pass --pretrained hub, none, or an existing .pth/.safetensors/.bin file")
    if path.suffix.lower() not in (".safetensors", ".npz"):  # a pickle: refuse one that could run code
        from vcm.safety import check_weights_file

        check_weights_file(path)
    try:
        # timm's own loader: drops the classifier, resamples the position embeddings to img_size
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
    except Exception as e:
        raise VcmError(f"cannot load pretrained weights into {name} ({type(e).__name__}: "
                       f"{str(e).splitlines()[0][:200] if str(e) else ''})", path=path,
                       fix="pass a state dict saved from the same timm architecture") from None


def build_model(config: ModelConfig, pretrained: str | None = None) -> DTJRDNet:
    """Build the network. `pretrained`: None/"none" (random init), "hub" (timm by name) or a weights file."""
    if config.decode not in DECODES:
        raise VcmError(f"unknown decode {config.decode!r}", fix=f"use one of {', '.join(DECODES)}")
    return DTJRDNet(_create_backbone(config, pretrained), config.num_classes)


def freeze_embeddings(model: DTJRDNet) -> list[str]:
    """The authors' strategy: train the blocks and the head, keep patch and position embeddings fixed."""
    frozen = []
    for name, p in model.backbone.named_parameters():
        if name.startswith("patch_embed.") or name == "pos_embed":
            p.requires_grad_(False)
            frozen.append(name)
    return frozen


def decode_logits(logits: torch.Tensor, decode: str = "argmax") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (B, C) -> (jrd int64 (B,), expectation float (B,), softmax probabilities (B, C))."""
    probs = torch.softmax(logits.float(), dim=-1)
    classes = torch.arange(probs.shape[-1], dtype=probs.dtype, device=probs.device)
    expectation = (probs * classes).sum(-1)
    if decode == "expectation":
        jrd = expectation.round().long().clamp(0, probs.shape[-1] - 1)
    else:
        jrd = probs.argmax(-1)
    return jrd, expectation, probs
