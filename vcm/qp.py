"""The QP policy: which QP codes which part of the picture, given each object's JRD.

Object QP = clamp(JRD + offset, qp_min, 63); the background gets `bg_qp` (default 51). Each object is coded
over its box grown by `margin` pixels (context the detector needs), with corners snapped outward to multiples
of `align` (2: 4:2:0 chroma needs even corners and sizes) and at least `min_size` pixels a side (the encoder
fails on tiny pictures). Where regions overlap, the lowest QP wins: it is drawn last.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.types import Box, ObjectJRD

Rect = tuple[int, int, int, int]  # x, y, w, h in pixels of the (even-padded) picture

MAX_QP = 63
DEFAULT_BG_QP = 51
DEFAULT_MARGIN = 48  # context for the detector; measurements in README.md (QP policy)
DEFAULT_ALIGN = 2
MIN_SIZE = 16
FRAME_TRIM = 0.1  # frame/blur QP: the lowest object QP after leaving out this fraction of the lowest


def _check_qp(q: int, what: str) -> int:
    if not isinstance(q, (int, np.integer)) or not 0 <= int(q) <= MAX_QP:
        raise VcmError(f"{what} {q!r} is outside 0..63", fix=f"give {what} as a whole number between 0 and 63")
    return int(q)


def object_qp(jrd: int, offset: int = 0, qp_min: int = 0) -> int:
    """The QP that codes an object: clamp(jrd + offset, qp_min, 63)."""
    return int(min(MAX_QP, max(qp_min, int(jrd) + int(offset))))


def coded_size(width: int, height: int) -> tuple[int, int]:
    """The size the codec codes a picture at (padded to even)."""
    return width + (width & 1), height + (height & 1)


def crop_rect(box: Box, width: int, height: int, margin: int = DEFAULT_MARGIN, align: int = DEFAULT_ALIGN,
              min_size: int = MIN_SIZE) -> Rect:
    """The rectangle coded for a box: grown by `margin`, snapped outward to `align`, inside the coded picture."""
    if align < 2 or align % 2:
        raise VcmError(f"alignment {align} is not an even number", fix="use 2, 4, 8, ...")
    cw, ch = coded_size(width, height)

    def span(lo: float, hi: float, limit: int) -> tuple[int, int]:
        a = min(max(0, math.floor(min(lo, hi) - margin) // align * align), limit - 2)
        b = min(limit, -(-math.ceil(max(lo, hi) + margin) // align) * align)
        b = max(b, min(limit, a + 2))
        need = min(limit, max(min_size + (min_size & 1), 2))
        while b - a < need:  # grow symmetrically, in steps of align (limit is even, so sizes stay even)
            if a > 0:
                a = max(0, a - align)
            if b - a < need and b < limit:
                b = min(limit, b + align)
        return a, b - a

    x, w = span(box[0], box[2], cw)
    y, h = span(box[1], box[3], ch)
    return x, y, w, h


@dataclass(frozen=True)
class QPRegion:
    """One object's coded rectangle and QP; `index` is the object's position in the detections."""

    index: int
    rect: Rect
    qp: int
    jrd: int


@dataclass(frozen=True)
class QPPlan:
    """QPs for one picture: background QP and one region per object, with the settings that made them."""

    width: int
    height: int
    bg_qp: int
    regions: tuple[QPRegion, ...]
    offset: int = 0
    qp_min: int = 0
    margin: int = DEFAULT_MARGIN
    align: int = DEFAULT_ALIGN

    @property
    def min_qp(self) -> int:
        """The lowest QP in the plan (the background QP when there are no objects)."""
        return min((r.qp for r in self.regions), default=self.bg_qp)

    @property
    def frame_qp(self) -> int:
        """The one QP of frame/blur mode: the lowest object QP once the lowest FRAME_TRIM of the objects are left
        out (a robust aggregate: one fragile object among many does not set the whole picture's QP; the
        encoder's final check and the per-picture plan choice catch what that loses)."""
        qps = sorted(r.qp for r in self.regions)
        if not qps:
            return self.bg_qp
        return qps[int(len(qps) * FRAME_TRIM)]

    def object_regions(self) -> list[QPRegion]:
        """The regions that need a stream of their own: QP below the background's (the others are coded with the
        background: their own stream would cost bits and buy nothing)."""
        return [r for r in self.regions if r.qp < self.bg_qp]

    def drawing_order(self) -> list[QPRegion]:
        """Regions from highest to lowest QP: drawn in this order, the lowest QP ends on top."""
        return sorted(self.regions, key=lambda r: (-r.qp, -r.index))

    def qp_map(self) -> np.ndarray:
        """Per-pixel QP of the coded picture (int16, coded size): what the decoder shows where."""
        cw, ch = coded_size(self.width, self.height)
        m = np.full((ch, cw), self.bg_qp, dtype=np.int16)
        for r in self.drawing_order():
            x, y, w, h = r.rect
            m[y:y + h, x:x + w] = r.qp
        return m

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["regions"] = [asdict(r) | {"rect": list(r.rect)} for r in self.regions]
        return d


def plan(objects: Sequence[ObjectJRD], width: int, height: int, *, offset: int = 0, bg_qp: int = DEFAULT_BG_QP,
         qp_min: int = 0, margin: int = DEFAULT_MARGIN, align: int = DEFAULT_ALIGN) -> QPPlan:
    """Apply the QP policy to every object of a width x height picture."""
    bg_qp = _check_qp(bg_qp, "background QP")
    qp_min = _check_qp(qp_min, "minimum QP")
    if margin < 0:
        raise VcmError(f"margin {margin} is negative", fix="give a margin of 0 or more pixels")
    regions = tuple(
        QPRegion(i, crop_rect(o.detection.box, width, height, margin, align), object_qp(o.jrd, offset, qp_min), int(o.jrd))
        for i, o in enumerate(objects))
    return QPPlan(width, height, bg_qp, regions, int(offset), qp_min, int(margin), int(align))
