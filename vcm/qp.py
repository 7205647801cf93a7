"""The QP policy: which QP codes which part of the picture, given each object's JRD.

Object QP = clamp(JRD + offset, qp_min, 63); the background gets `bg_qp` (default 51). Under a floor `qp_min`,
an object whose JRD lies more than GIVE_UP_MARGIN below it is not protected (it rides in the background: at the
floor it would be lost anyway); `qp_min` 64 protects none. Each object is coded
over its box grown by `margin` pixels (context the detector needs), with corners snapped outward to multiples
of `align` (2: 4:2:0 chroma needs even corners and sizes) and at least `min_size` pixels a side (the encoder
fails on tiny pictures). Where regions overlap, the lowest QP wins: it is drawn last.
In the plan choice's `objects` candidates, touching or overlapping object regions whose QPs differ by at most
MERGE_QP_TOLERANCE share one stream (their bounding box at the lower QP) when that box is estimated to cost no
more than the two (`QPPlan.object_streams`; measured with tools/bench_merge.py: docs/POLICY.md).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.settings import GIVE_UP, GIVE_UP_MARGIN  # the QP floor that protects no object, and when one is hopeless
from vcm.types import Box, ObjectJRD

Rect = tuple[int, int, int, int]  # x, y, w, h in pixels of the (even-padded) picture

MAX_QP = 63
DEFAULT_BG_QP = 51
DEFAULT_MARGIN = 48  # context for the detector; measurements in README.md (QP policy)
DEFAULT_ALIGN = 2
MIN_SIZE = 16
FRAME_TRIM = 0.1  # frame/blur QP: the lowest object QP after leaving out this fraction of the lowest
MERGE_QP_TOLERANCE = 3  # objects candidates: regions this close in QP may share one stream (docs/POLICY.md)


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
    given_up: int = 0  # objects the floor left unprotected (hopeless at the floor; all of them at GIVE_UP)

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

    def object_streams(self, tolerance: int = MERGE_QP_TOLERANCE) -> list[tuple[QPRegion, tuple[int, ...]]]:
        """The streams of `objects` mode: the object regions (`object_regions`), where two touch or overlap and
        their QPs differ by at most `tolerance`, merged into their bounding box at the lower QP when that box is
        estimated not to cost more than the two apart (`stream_cost`); the pair that saves most first, until no
        pair saves. Each stream comes with the indices of the objects it shows; its region carries the lowest of
        them and the lower QP and JRD."""
        streams = [(r, (r.index,)) for r in self.object_regions()]
        while True:
            best = None
            for i, (a, _) in enumerate(streams):
                for j in range(i + 1, len(streams)):
                    b = streams[j][0]
                    if abs(a.qp - b.qp) > tolerance or not rects_touch(a.rect, b.rect):
                        continue
                    box, q = bounding_box(a.rect, b.rect), min(a.qp, b.qp)
                    saved = stream_cost(a.rect, a.qp) + stream_cost(b.rect, b.qp) - stream_cost(box, q)
                    if saved >= 0 and (best is None or saved > best[0]):
                        best = (saved, i, j, box)
            if best is None:
                return streams
            _, i, j, box = best
            (a, ma), (b, mb) = streams[i], streams[j]
            merged = (QPRegion(min(a.index, b.index), box, min(a.qp, b.qp), min(a.jrd, b.jrd)), tuple(sorted(ma + mb)))
            streams = [s for k, s in enumerate(streams) if k not in (i, j)] + [merged]

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


def stream_cost(rect: Rect, qp: int) -> float:
    """The relative size of a stream coding `rect` at `qp`: its area, halved every 6 QPs (the quantiser step
    doubles). Only for comparing streams of one picture (`QPPlan.object_streams`)."""
    return rect[2] * rect[3] * 2.0 ** (-qp / 6.0)


def rects_touch(a: Rect, b: Rect) -> bool:
    """Rectangles that overlap or share an edge."""
    return a[0] <= b[0] + b[2] and b[0] <= a[0] + a[2] and a[1] <= b[1] + b[3] and b[1] <= a[1] + a[3]


def rects_overlap(a: Rect, b: Rect) -> bool:
    """Rectangles that share pixels (an edge alone is not enough, unlike `rects_touch`)."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def bounding_box(a: Rect, b: Rect) -> Rect:
    x, y = min(a[0], b[0]), min(a[1], b[1])
    return x, y, max(a[0] + a[2], b[0] + b[2]) - x, max(a[1] + a[3], b[1] + b[3]) - y


def plan(objects: Sequence[ObjectJRD], width: int, height: int, *, offset: int = 0, bg_qp: int = DEFAULT_BG_QP,
         qp_min: int = 0, margin: int = DEFAULT_MARGIN, align: int = DEFAULT_ALIGN, give_up: bool = True) -> QPPlan:
    """Apply the QP policy to every object of a width x height picture (a region per protected object).
    `give_up=False` codes a hopeless object at the floor instead (video: objects mode low-passes everything
    outside the regions, so an unprotected object would be erased, not coded coarsely; QP 64 still protects none)."""
    bg_qp = _check_qp(bg_qp, "background QP")
    qp_min = GIVE_UP if qp_min == GIVE_UP else _check_qp(qp_min, "minimum QP")
    if margin < 0:
        raise VcmError(f"margin {margin} is negative", fix="give a margin of 0 or more pixels")
    regions = tuple(
        QPRegion(i, crop_rect(o.detection.box, width, height, margin, align), object_qp(o.jrd, offset, qp_min), int(o.jrd))
        for i, o in enumerate(objects) if not (hopeless(o.jrd, qp_min) if give_up else qp_min > MAX_QP))
    return QPPlan(width, height, bg_qp, regions, int(offset), qp_min, int(margin), int(align),
                  len(objects) - len(regions))


def hopeless(jrd: int, qp_min: int) -> bool:
    """An object the floor does not protect: every object at GIVE_UP, else one whose JRD lies more than
    GIVE_UP_MARGIN below the floor (coded at the floor it would be lost anyway)."""
    return qp_min > MAX_QP or (qp_min > 0 and int(jrd) + GIVE_UP_MARGIN < qp_min)
