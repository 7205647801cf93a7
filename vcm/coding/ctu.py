"""`ctu` mode: a QP plan -> one QP per 64x64 CTU -> ONE standard VVC bitstream (uvg266's `--roi` map, or VTM's
`--CtuQpMapFile` from vcm's patch, tools/build_vtm.py).

CTU QP = the lowest QP of the objects whose coded rectangle touches the CTU, the background QP elsewhere (the
paper's DT-JRD coding scheme). The bitstream carries the CTU QPs as CU delta QPs against the slice (base) QP,
the lowest CTU QP. What one picture can hold depends on the encoder (`ctu_map_limits()`): uvg266 keeps a delta
inside [-26, 25] (8-bit build) or [-32, 31] (10-bit) and codes QPs up to 51, so CTU QPs above base + span (or
51) are lowered to it; VTM holds every QP 0..63 (a delta wraps around the QP range), so its maps are the plan
as asked. Only whole-picture QPs that are higher than an object needs are ever lowered - never an object's own
QP - and `CTUMap.clamped` says when it happened.

Any VVC decoder shows the result as one picture; vcm's container writes it as one background stream.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vcm.codec.base import EncodeParams, Encoder, YuvClip, YuvFrame
from vcm.errors import VcmError
from vcm.qp import QPPlan, coded_size

log = logging.getLogger(__name__)

CTU = 64
MAX_QP = 51  # uvg266 codes QPs 0..51 at every bit depth
CTU_ENCODERS = ("uvg266", "vtm")  # the backends with a CTU QP map, in the order ctu mode picks them (speed)


@dataclass(frozen=True)
class CTUMap:
    """The QP of every CTU of one picture, as coded: `qps` (rows, cols) = base_qp + deltas."""

    qps: np.ndarray  # int16 (rows, cols), after clamping
    requested: np.ndarray  # int16 (rows, cols), straight from the plan
    base_qp: int  # the slice QP (lowest CTU QP)
    span: int  # the largest QP difference the encoder's delta-QP range holds
    ctu: int = CTU

    @property
    def deltas(self) -> np.ndarray:
        return (self.qps - self.base_qp).astype(np.int16)

    @property
    def clamped(self) -> bool:
        """True when some CTU QP had to be lowered to keep the deltas in range."""
        return bool(np.any(self.qps != self.requested))

    @property
    def clamped_ctus(self) -> int:
        return int(np.count_nonzero(self.qps != self.requested))

    def pixel_qps(self, width: int, height: int) -> np.ndarray:
        """Per-pixel QP of the coded picture (int16, height x width)."""
        return np.repeat(np.repeat(self.qps, self.ctu, 0), self.ctu, 1)[:height, :width]

    def to_json(self) -> dict[str, Any]:
        return {"ctu": self.ctu, "base_qp": self.base_qp, "span": self.span, "clamped": self.clamped,
                "clamped_ctus": self.clamped_ctus, "max_qp": int(self.qps.max()),
                "grid": [int(self.qps.shape[1]), int(self.qps.shape[0])]}


def qp_span(bit_depth: int) -> int:
    """The widest QP range one picture can hold: every delta against any other QP stays in the encoder's range."""
    from vcm.codec.uvg266 import qp_delta_range

    lo, hi = qp_delta_range(bit_depth)
    return min(hi, -lo)


def requested_qps(plan: QPPlan, ctu: int = CTU) -> np.ndarray:
    """The CTU QPs a plan asks for: the lowest QP of the regions touching each CTU, else the background QP."""
    cw, ch = coded_size(plan.width, plan.height)
    cols, rows = -(-cw // ctu), -(-ch // ctu)
    req = np.full((rows, cols), plan.bg_qp, dtype=np.int16)
    for r in plan.regions:
        x, y, w, h = r.rect
        if w <= 0 or h <= 0:
            continue
        sl = np.s_[y // ctu:(y + h - 1) // ctu + 1, x // ctu:(x + w - 1) // ctu + 1]
        req[sl] = np.minimum(req[sl], r.qp)
    return req


Limits = tuple[int, int, int]  # an encoder's ctu_map_limits(): (QP span, highest QP, CTU size)


def clamp_map(req: np.ndarray, bit_depth: int = 8, ctu: int = CTU, limits: Limits | None = None) -> CTUMap:
    """Base QP = the lowest requested QP; QPs above base + span (or the highest QP) come down to it. `limits`
    (span, highest QP, CTU size) is an encoder's `ctu_map_limits()`; None: uvg266's at `bit_depth`."""
    span, max_qp, ctu = limits or (qp_span(bit_depth), MAX_QP, ctu)
    base = min(int(req.min()), max_qp)
    qps = np.minimum(req, min(base + span, max_qp)).astype(np.int16)
    return CTUMap(qps, req.astype(np.int16), base, span, ctu)


def ctu_map(plan: QPPlan, bit_depth: int = 8, ctu: int = CTU, limits: Limits | None = None) -> CTUMap:
    """The CTU QPs of a plan: lowest touching object QP, else the background QP; clamped to the encoder's span."""
    return clamp_map(requested_qps(plan, limits[2] if limits else ctu), bit_depth, ctu, limits)


def segment_map(plans: list[QPPlan], bit_depth: int = 8, ctu: int = CTU, limits: Limits | None = None) -> CTUMap:
    """One map for a video segment: per CTU the lowest QP any of its frames asks for (uvg266 reads per-picture
    maps in coding order, so a random-access sequence gets one map; objects keep their QP wherever they go)."""
    size = limits[2] if limits else ctu
    return clamp_map(np.minimum.reduce([requested_qps(p, size) for p in plans]), bit_depth, ctu, limits)


def encode_ctu(frames: list[YuvFrame], maps: list[CTUMap], params: EncodeParams, encoder: str | Encoder = "uvg266",
               matrix: str = "bt709", cache: bool = True, fps: float = 1.0, source: str = "ctu"):
    """Code frames with one CTU map each (all with the same base QP) in one uvg266 or VTM bitstream; the
    backend checks the slice QPs and every CTU's QP against the maps."""
    from vcm.codec import create_encoder, encode
    from vcm.codec.uvg266 import roi_extra

    enc = create_encoder(encoder)
    if enc.name not in CTU_ENCODERS:
        raise VcmError(f"ctu mode needs an encoder with a CTU QP map ({' or '.join(CTU_ENCODERS)}), "
                       f"not {enc.name!r}",
                       fix="use --encoder uvg266 or vtm (build them: make uvg266, make vtm)")
    bases = {m.base_qp for m in maps}
    if len(bases) != 1:
        raise VcmError("ctu maps of one bitstream must share the base QP", fix="build them with one base QP")
    extra = (*params.extra, roi_extra([m.deltas for m in maps]))
    clip = YuvClip([YuvFrame(f.y, f.u, f.v) for f in frames], fps=fps, matrix=matrix, source=source)
    return encode(clip, replace(params, qp=bases.pop(), extra=extra), encoder=enc, cache=cache)


def ctu_encoder(encoder: str | Encoder) -> Encoder:
    """The encoder ctu mode codes with: `encoder` when it has a CTU QP map (uvg266, or VTM with vcm's patch);
    else the first of CTU_ENCODERS found here (uvg266 where it is set up, else VTM where `make vtm` built it)."""
    from vcm.codec import create_encoder

    name = getattr(encoder, "name", encoder)
    if name in CTU_ENCODERS:
        return create_encoder(encoder)
    for other in CTU_ENCODERS:
        enc = create_encoder(other, check=False)
        if enc.available():
            if name != "ffmpeg":  # the default encoder means "no choice made"
                log.warning("ctu mode codes with %s, not %s (encoders with a CTU QP map: %s)", other, name,
                            ", ".join(CTU_ENCODERS))
            return enc
    raise VcmError("ctu mode needs an encoder with a CTU QP map: neither uvg266 nor VTM is found",
                   fix="build VTM (make vtm), or uvg266: export VCM_UVG266=$(python tools/build_uvg266.py)")


def code_ctu_picture(frame: YuvFrame, plan: QPPlan, params: EncodeParams, encoder: str | Encoder = "uvg266",
                     matrix: str = "bt709", cache: bool = True):
    """One picture in ctu mode: (EncodeResult, CTUMap). Logs (info) when the plan had to be clamped; the map records it."""
    enc = ctu_encoder(encoder)
    span, max_qp, ctu = enc.ctu_map_limits()
    m = ctu_map(plan, limits=(span, max_qp, ctu))
    if m.clamped:
        log.info("ctu mode: the plan's QPs span %d..%d; one %s picture holds %d..%d; %d CTUs lowered to "
                    "QP %d", int(m.requested.min()), int(m.requested.max()), enc.version(), m.base_qp,
                    min(m.base_qp + m.span, max_qp), m.clamped_ctus, int(m.qps.max()))
    return encode_ctu([frame], [m], params, enc, matrix, cache), m
