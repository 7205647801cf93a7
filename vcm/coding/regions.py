"""Pixel operations of the coding modes, on 10-bit 4:2:0 frames: cut a rectangle out, low-pass fill or blur
around rectangles, and paste decoded rectangles back.

Everything works on YuvFrame planes with even rectangles (see `vcm.qp.crop_rect`), so the chroma of a crop is
exactly the crop of the chroma, and the one colour conversion (vcm.codec.colour) is applied once each way.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from vcm.codec.base import YuvFrame
from vcm.qp import Rect

FILL_FACTOR = 32  # object areas of the background stream: the picture shrunk 32x and blown up again
BLUR_FACTOR = 8  # `blur` mode's background: a milder low-pass, the background stays recognisable


def _check_rect(frame: YuvFrame, rect: Rect) -> None:
    frame.check_rect(rect)


def crop_frame(frame: YuvFrame, rect: Rect) -> YuvFrame:
    """The frame's pixels inside an even rectangle, as a frame of its own (copied)."""
    return frame.crop(rect)


def lowpass(frame: YuvFrame, factor: int) -> YuvFrame:
    """Each plane shrunk `factor` times (area average) and blown up again (bilinear): only coarse shapes stay."""
    import cv2

    def plane(p: np.ndarray) -> np.ndarray:
        h, w = p.shape
        small = cv2.resize(p.astype(np.float32), (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(np.rint(big), 0, 1023).astype(np.uint16)

    return YuvFrame(plane(frame.y), plane(frame.u), plane(frame.v), frame.display)


def _paste_planes(dst: YuvFrame, src: YuvFrame, rect: Rect, src_offset: tuple[int, int] = (0, 0)) -> None:
    x, y, w, h = rect
    sx, sy = src_offset
    dst.y[y:y + h, x:x + w] = src.y[sy:sy + h, sx:sx + w]
    dst.u[y // 2:(y + h) // 2, x // 2:(x + w) // 2] = src.u[sy // 2:(sy + h) // 2, sx // 2:(sx + w) // 2]
    dst.v[y // 2:(y + h) // 2, x // 2:(x + w) // 2] = src.v[sy // 2:(sy + h) // 2, sx // 2:(sx + w) // 2]


def _copy(frame: YuvFrame) -> YuvFrame:
    return YuvFrame(frame.y.copy(), frame.u.copy(), frame.v.copy(), frame.display)


def fill_rects(frame: YuvFrame, rects: Sequence[Rect], factor: int = FILL_FACTOR) -> YuvFrame:
    """The background picture of `objects` mode: inside the rectangles a strong low-pass of the picture (cheap
    to code, hidden at decode under the object crops), elsewhere the picture itself."""
    out = _copy(frame)
    if rects:
        low = lowpass(frame, factor)
        for r in rects:
            _check_rect(frame, r)
            _paste_planes(out, low, r, (r[0], r[1]))
    return out


def blur_outside(frame: YuvFrame, rects: Sequence[Rect], factor: int = BLUR_FACTOR) -> YuvFrame:
    """The picture of `blur` mode: low-pass everywhere except inside the rectangles."""
    out = lowpass(frame, factor)
    for r in rects:
        _check_rect(frame, r)
        _paste_planes(out, frame, r, (r[0], r[1]))
    return out


def _ramp(n: int, lo_open: bool, hi_open: bool, feather: int) -> np.ndarray:
    """Weights 0..1 along one side of a crop: rising over `feather` px at edges that border other pixels."""
    a = np.ones(n, np.float32)
    f = min(feather, n // 2)
    if f > 0:
        r = (np.arange(f, dtype=np.float32) + 0.5) / f
        if lo_open:
            a[:f] = np.minimum(a[:f], r)
        if hi_open:
            a[n - f:] = np.minimum(a[n - f:], r[::-1])
    return a


def _blend_plane(dst: np.ndarray, src: np.ndarray, x: int, y: int, w: int, h: int, wx: np.ndarray, wy: np.ndarray) -> None:
    a = wy[:, None] * wx[None, :]
    region = dst[y:y + h, x:x + w].astype(np.float32)
    dst[y:y + h, x:x + w] = np.rint(a * src[:h, :w] + (1.0 - a) * region).astype(np.uint16)


def composite(background: YuvFrame, pieces: Iterable[tuple[Rect, YuvFrame]], feather: int = 0) -> YuvFrame:
    """Paste decoded crops over the decoded background, in the order given (the last one ends on top).

    Each crop may be coded larger than its rectangle (encoders pad); only the rectangle's size is used.
    With `feather` > 0 a crop fades in over its outer `feather` pixels (edges on the picture border stay
    hard), so the step from fine crop to coarse background does not look like an edge to the detector.
    """
    out = _copy(background)
    H, W = out.y.shape
    for rect, piece in pieces:
        _check_rect(out, rect)
        if piece.width < rect[2] or piece.height < rect[3]:
            raise ValueError(f"decoded crop {piece.width}x{piece.height} is smaller than its rectangle {rect}")
        if feather <= 0:
            _paste_planes(out, piece, rect)
            continue
        x, y, w, h = rect
        wx = _ramp(w, x > 0, x + w < W, feather)
        wy = _ramp(h, y > 0, y + h < H, feather)
        _blend_plane(out.y, piece.y, x, y, w, h, wx, wy)
        cx = _ramp(w // 2, x > 0, x + w < W, feather // 2)
        cy = _ramp(h // 2, y > 0, y + h < H, feather // 2)
        _blend_plane(out.u, piece.u, x // 2, y // 2, w // 2, h // 2, cx, cy)
        _blend_plane(out.v, piece.v, x // 2, y // 2, w // 2, h // 2, cx, cy)
    return out
