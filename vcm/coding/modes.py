"""The coding modes: how one picture and its QP plan become VVC streams, and how streams become a picture.

- `objects` (default): the background (object areas low-pass filled) at the background QP, plus one stream
  per object crop (box + margin) at that object's QP; decoding pastes the crops over the background, the
  lowest QP on top. With a merge tolerance (the plan choice gives one), touching objects with close QPs share
  one stream (`QPPlan.object_streams`). No stock VVC encoder here takes a per-block QP map, so this is how objects get their own QP.
- `frame`: the whole picture at one QP, the plan's frame QP (lowest object QP, robust to one outlier among
  many: `QPPlan.frame_qp`): one standard bitstream.
- `plain`: the whole picture at a QP given by the caller (the anchor, plain VVC).
- `blur`: the background low-pass filtered outside the object rectangles, the whole picture at the frame
  QP: one standard bitstream.
An object whose QP is not below the background QP has no stream of its own in `objects` mode: the
background already codes it finely enough (`QPPlan.object_regions`).
- `ctu`: one standard bitstream whose 64x64 CTUs carry the plan's QPs (uvg266's delta-QP map; vcm.coding.ctu).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from vcm.codec.base import EncodeParams, Encoder, YuvClip, YuvFrame
from vcm.coding.regions import blur_outside, composite, fill_rects
from vcm.errors import VcmError
from vcm.qp import QPPlan, QPRegion, Rect, coded_size
from vcm.types import EncodeResult

MODES = ("objects", "frame", "plain", "blur", "ctu")
ROLE_BACKGROUND, ROLE_OBJECT = "background", "object"  # the container's roles: every mode has one background


@dataclass
class CodedStream:
    """One VVC stream of a coded picture: what it shows (role), where (rect in the coded picture), at which QP."""

    role: str
    rect: Rect
    qp: int
    result: EncodeResult
    index: int | None = None  # the object's position in the detections, for role "object"
    shared: tuple[int, ...] = ()  # the other objects this stream shows (touching objects merged into one stream)

    @property
    def bytes(self) -> int:
        return self.result.bytes

    def data(self) -> bytes:
        return Path(self.result.bitstream).read_bytes()


@dataclass
class CodedPicture:
    """All streams of one coded picture, in drawing order (whole-picture stream first, lowest QP last)."""

    mode: str
    width: int  # display size of the original picture
    height: int
    matrix: str
    plan: QPPlan
    streams: list[CodedStream]
    seconds: float = 0.0  # wall time of all encodes
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def stream_bytes(self) -> int:
        """Bytes of the VVC streams alone (the output file adds a small header)."""
        return sum(s.bytes for s in self.streams)

    @property
    def qp(self) -> int:
        """The single QP of frame/plain/blur; the background QP of objects."""
        return self.streams[0].qp


def _clip(frame: YuvFrame, matrix: str, source: str) -> YuvClip:
    return YuvClip([YuvFrame(frame.y, frame.u, frame.v)], fps=1.0, matrix=matrix, source=source)


def encode_frame(frame: YuvFrame, qp: int, params: EncodeParams, encoder: str | Encoder, matrix: str,
                 cache: bool = True, source: str = "") -> EncodeResult:
    """One frame, all-intra at `qp` (the encode cache makes repeats free)."""
    from vcm.codec import encode

    return encode(_clip(frame, matrix, source), replace(params, qp=int(qp), intra=True), encoder=encoder, cache=cache)


def code_background(frame: YuvFrame, plan: QPPlan, params: EncodeParams, encoder: str | Encoder = "ffmpeg",
                    matrix: str = "bt709", cache: bool = True, rects: Sequence[Rect] | None = None) -> CodedStream:
    """The background stream of `objects` mode: the object rectangles (`rects`, default the plan's object
    regions) low-pass filled, coded at the plan's bg QP."""
    bg = fill_rects(frame, [r.rect for r in plan.object_regions()] if rects is None else list(rects))
    res = encode_frame(bg, plan.bg_qp, params, encoder, matrix, cache, "background")
    return CodedStream(ROLE_BACKGROUND, (0, 0, frame.width, frame.height), plan.bg_qp, res)


def code_crops(frame: YuvFrame, regions: Sequence[QPRegion], params: EncodeParams, encoder: str | Encoder = "ffmpeg",
               matrix: str = "bt709", cache: bool = True) -> list[CodedStream]:
    """One stream per region: the original pixels inside its rectangle at its QP (same order as `regions`).

    All crops go to the encoder together (`vcm.codec.encode_crops`): ffmpeg codes them in one process, other
    backends one process per crop, side by side. Crops carry no colour description in their VUI (parts of the
    composite `vcm decode` assembles; 8 bytes each would tilt the plan's byte comparisons against whole-picture
    candidates, which all carry it)."""
    from vcm.codec import encode_crops

    results = encode_crops(frame, [r.rect for r in regions],
                           [replace(params, qp=int(r.qp), intra=True, vui=False) for r in regions],
                           encoder, matrix, cache, sources=[f"object {r.index}" for r in regions])
    return [CodedStream(ROLE_OBJECT, r.rect, r.qp, res, r.index) for r, res in zip(regions, results)]


def drawing_order(streams: Sequence[CodedStream]) -> list[CodedStream]:
    """Whole-picture streams first, then objects from highest to lowest QP (ties: later objects first)."""
    return sorted(streams, key=lambda s: (s.role == ROLE_OBJECT, -s.qp, -(s.index or 0)))


def code_picture_mode(mode: str, frame: YuvFrame, plan: QPPlan, params: EncodeParams, *, qp: int | None = None,
                      encoder: str | Encoder = "ffmpeg", matrix: str = "bt709", cache: bool = True,
                      display: tuple[int, int] | None = None, merge_tolerance: int = -1) -> CodedPicture:
    """Code one frame (the original, 10-bit 4:2:0 at coded size) in `mode` following `plan`; in `objects` mode
    touching objects whose QPs differ by at most `merge_tolerance` may share a stream (`QPPlan.object_streams`;
    -1, the default: one stream per object. The plan choice, vcm.coding.choose, merges)."""
    t0 = time.perf_counter()
    full = (0, 0, frame.width, frame.height)
    if mode == "objects":  # the background encode runs beside the crop encodes (separate processes)
        from concurrent.futures import ThreadPoolExecutor

        merged = plan.object_streams(merge_tolerance)
        regions = [r for r, _ in merged]
        with ThreadPoolExecutor(1) as pool:
            bg = pool.submit(code_background, frame, plan, params, encoder, matrix, cache, [r.rect for r in regions])
            crops = code_crops(frame, regions, params, encoder, matrix, cache)
            streams = [bg.result()] + [replace(c, shared=tuple(k for k in members if k != c.index))
                                       for c, (_, members) in zip(crops, merged)]
    elif mode == "frame":
        streams = [CodedStream(ROLE_BACKGROUND, full, plan.frame_qp,
                               encode_frame(frame, plan.frame_qp, params, encoder, matrix, cache, "frame"))]
    elif mode == "plain":
        if qp is None:
            raise VcmError("plain mode needs a QP", fix="pass --qp Q (0..63)")
        streams = [CodedStream(ROLE_BACKGROUND, full, int(qp), encode_frame(frame, int(qp), params, encoder, matrix, cache, "plain"))]
    elif mode == "blur":
        pic = blur_outside(frame, [r.rect for r in plan.regions])
        q = plan.frame_qp
        streams = [CodedStream(ROLE_BACKGROUND, full, q, encode_frame(pic, q, params, encoder, matrix, cache, "blur"))]
    elif mode == "ctu":
        from vcm.coding.ctu import code_ctu_picture

        res, cmap = code_ctu_picture(frame, plan, params, encoder, matrix, cache)
        streams = [CodedStream(ROLE_BACKGROUND, full, cmap.base_qp, res)]
        extra = {"encoder": res.backend, "ctu": cmap.to_json()}
    else:
        raise VcmError(f"unknown coding mode {mode!r}", fix=f"use one of {', '.join(MODES)}")
    w, h = display or frame.display_size
    settings = {"preset": params.preset, "encoder": getattr(encoder, "name", encoder)}
    if mode == "ctu":
        settings.update(extra)
    return CodedPicture(mode, w, h, matrix, plan, drawing_order(streams), time.perf_counter() - t0, settings)


def assemble(pieces: Sequence[tuple[str, Rect, int, YuvFrame]], width: int, height: int) -> YuvFrame:
    """Decoded streams -> the picture: (role, rect, qp, frame) pieces; the whole-picture piece is the canvas,
    object crops go on top from highest to lowest QP. `width` x `height` is the display size."""
    whole = [p for p in pieces if p[0] != ROLE_OBJECT]
    if len(whole) != 1:
        raise VcmError(f"expected one whole-picture stream, found {len(whole)}",
                       fix="the file is damaged or not written by vcm encode")
    cw, ch = coded_size(width, height)
    canvas = whole[0][3]
    if canvas.width < cw or canvas.height < ch:
        raise VcmError(f"decoded picture {canvas.width}x{canvas.height} is smaller than {width}x{height}",
                       fix="the file is damaged: re-encode it")
    canvas = YuvFrame(canvas.y[:ch, :cw], canvas.u[:ch // 2, :cw // 2], canvas.v[:ch // 2, :cw // 2])
    # rects in a file end at the display size; the crops were coded over the even-padded rect
    objects = [(r, (x, y, w + (w & 1), h + (h & 1)), q, f) for r, (x, y, w, h), q, f in pieces if r == ROLE_OBJECT]
    order = sorted(range(len(objects)), key=lambda i: -objects[i][2])  # stable: ties keep file order
    try:
        out = composite(canvas, [(objects[i][1], objects[i][3]) for i in order])
    except ValueError as e:
        raise VcmError(f"object stream does not fit the picture ({e})", fix="the file is damaged: re-encode it") from None
    out.display = (width, height) if (width, height) != (cw, ch) else None
    return out


def reconstruct(coded: CodedPicture, decoder: str = "pyav") -> YuvFrame:
    """Decode every stream of a coded picture and assemble it, exactly as `vcm decode` does from the file."""
    from vcm.codec import decode

    pieces = [(s.role, s.rect, s.qp, decode(s.result.bitstream, decoder)[0]) for s in coded.streams]
    return assemble(pieces, coded.width, coded.height)


def to_vcm_file(coded: CodedPicture):
    """The container record of a coded picture (rects clipped to the display size, as the format wants)."""
    from vcm.container import StreamEntry, VcmFile

    def clip(rect: Rect) -> tuple[int, int, int, int]:
        x, y, w, h = rect
        return x, y, min(w, coded.width - x), min(h, coded.height - y)

    streams = [StreamEntry(s.role, clip(s.rect), int(s.qp), s.data()) for s in coded.streams]
    return VcmFile(coded.width, coded.height, coded.matrix, streams)


def read_coded_file(path: str | Path, decoder: str = "pyav") -> tuple[YuvFrame, object]:
    """Decode a vcm file (or a plain VVC .266) to its assembled frame; returns (frame, VcmFile)."""
    from vcm.container import decode_vcm_file, read_vcm_file

    vf = read_vcm_file(path)
    pairs = decode_vcm_file(path, decoder)
    if vf.plain:  # a plain VVC file: its first picture
        pairs = pairs[:1]
    return assemble([(e.role, e.rect, e.qp, f) for e, f in pairs], vf.width, vf.height), vf
