"""The VVC codec layer: backends chosen by name, one colour conversion, an encode cache.

    clip = picture_to_clip(read_picture("bus.jpg"))
    res = encode(clip, EncodeParams(qp=37))          # EncodeResult, cached by content
    rgb = yuv_to_rgb(decode(res.bitstream)[0])       # back to RGB, one decoder thread

Backends: encoders `ffmpeg` (default: imageio-ffmpeg's static ffmpeg with libvvenc), `vvenc`
(vvencFFapp/vvencapp on PATH), `vtm` (EncoderApp); decoders `pyav` (default), `ffmpeg`, `vvdec`, `vtm`.
"""
from __future__ import annotations

import importlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from vcm.codec.base import Decoder, EncodeParams, Encoder, YuvClip, YuvFrame
from vcm.errors import VcmError
from vcm.registry import Registry
from vcm.fsutil import atomic_path
from vcm.types import EncodeResult

if TYPE_CHECKING:
    import numpy as np

    from vcm.codec.colour import psnr, rgb_to_yuv, yuv_to_rgb
    from vcm.media import read_picture

log = logging.getLogger(__name__)
_TEMP_DIRS: list[str] = []  # no-cache encodes without `out` live here until the process ends


def _temp_dir() -> Path:
    """A `vcm-*` temp folder removed when this process exits (the result's bitstream must outlive the call).
    multiprocessing's finaliser also runs in worker processes (which skip atexit) and only in the creator."""
    from multiprocessing.util import Finalize

    d = tempfile.mkdtemp(prefix="vcm-")
    _TEMP_DIRS.append(d)
    Finalize(None, shutil.rmtree, args=(d,), kwargs={"ignore_errors": True}, exitpriority=1)
    return Path(d)

ENCODERS = {"ffmpeg": "vcm.codec.ffmpeg:FFmpegEncoder", "vvenc": "vcm.codec.vvenc:VVenCEncoder",
            "vtm": "vcm.codec.vtm:VTMEncoder", "uvg266": "vcm.codec.uvg266:UVG266Encoder"}
DECODERS = {"pyav": "vcm.codec.ffmpeg:PyAVDecoder", "ffmpeg": "vcm.codec.ffmpeg:FFmpegDecoder",
            "vvdec": "vcm.codec.vvenc:VVdeCDecoder", "vtm": "vcm.codec.vtm:VTMDecoder"}
DEFAULT_ENCODER, DEFAULT_DECODER, DEFAULT_MATRIX = "ffmpeg", "pyav", "bt709"

__all__ = ["EncodeParams", "YuvFrame", "YuvClip", "Encoder", "Decoder", "create_encoder", "create_decoder",
           "read_picture", "picture_to_clip", "rgb_to_yuv", "yuv_to_rgb", "encode", "decode", "code_picture",
           "read_input", "psnr", "decoded_psnr", "ENCODERS", "DECODERS"]


# numpy-backed helpers load on first use, so the CLI's `from vcm.codec.base import PRESETS` (`vcm --help`)
# imports no numpy
_LAZY = {"psnr": "vcm.codec.colour", "rgb_to_yuv": "vcm.codec.colour", "yuv_to_rgb": "vcm.codec.colour",
         "read_picture": "vcm.media"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vcm.codec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def _create(registry: dict, kind: str, name: str, check: bool):
    obj = Registry(kind, registry, fix=f"use one of: {', '.join(registry)}").resolve(name)()
    if check and not obj.available():
        raise VcmError(f"{kind} {name!r} is not usable on this machine (program missing)",
                       fix=f"run `vcm doctor`, or use --{kind} {DEFAULT_ENCODER if kind == 'encoder' else DEFAULT_DECODER}")
    return obj


def create_encoder(name: str | Encoder = DEFAULT_ENCODER, check: bool = True) -> Encoder:
    return name if isinstance(name, Encoder) else _create(ENCODERS, "encoder", name, check)


def create_decoder(name: str | Decoder = DEFAULT_DECODER, check: bool = True) -> Decoder:
    return name if isinstance(name, Decoder) else _create(DECODERS, "decoder", name, check)


def picture_to_clip(rgb: np.ndarray, matrix: str = DEFAULT_MATRIX, source: str = "") -> YuvClip:
    """One RGB picture -> a one-frame clip of 10-bit 4:2:0 (padded to even size; display size kept)."""
    from vcm.codec.colour import rgb_to_yuv

    try:
        frame = rgb_to_yuv(rgb, matrix)
    except VcmError as e:
        raise VcmError(str(e), path=source or None) from None  # size errors name the file
    return YuvClip([frame], fps=1.0, matrix=matrix, source=source)


def encode(clip: YuvClip, params: EncodeParams, out: str | Path | None = None,
           encoder: str | Encoder = DEFAULT_ENCODER, cache: bool | object = True) -> EncodeResult:
    """Code a clip; with `cache` (True, or an EncodeCache) an identical earlier encode is reused.

    With `out`, the bitstream is (also) written there atomically and the result points at it.
    """
    from vcm.codec.cache import EncodeCache, cache_key, clip_digest

    enc = create_encoder(encoder)
    log.info("encode %s %dx%d x%d frames, %s limited range 10-bit 4:2:0, %s", clip.source or "<clip>",
             clip.width, clip.height, len(clip.frames), clip.matrix, params)
    store = (cache if isinstance(cache, EncodeCache) else EncodeCache()) if cache else None
    key = cache_key(clip_digest(clip), enc.name, enc.version(), params) if store else None
    res = store.get(key) if store else None
    if res is None and store is None:  # no cache: code straight into `out` (or a temp folder the caller keeps)
        return enc.encode(clip, params, Path(out) if out else _temp_dir() / "out.266")
    if res is None:  # cache miss: code in a temp folder, move into the cache
        with tempfile.TemporaryDirectory(prefix="vcm-") as tmp:
            res = store.put(key, enc.encode(clip, params, Path(tmp) / "out.266"))
        res.cached = False
    if out is not None and Path(out).resolve() != Path(res.bitstream).resolve():
        with atomic_path(out) as tmp:
            shutil.copyfile(res.bitstream, tmp)
        res.bitstream = Path(out)
    return res


def decode(bitstream: str | Path, decoder: str | Decoder = DEFAULT_DECODER) -> list[YuvFrame]:
    """Decode every picture of an Annex-B VVC file (one thread: deterministic)."""
    from vcm.media import check_input_file

    return create_decoder(decoder).decode(check_input_file(bitstream))


def decoded_psnr(decoded: YuvFrame, original: YuvFrame) -> tuple[float, float, float]:
    """Y, U, V PSNR of a decoded frame against the encoder's input: must match the encoder's log."""
    from vcm.codec.colour import psnr

    return psnr(decoded.y, original.y), psnr(decoded.u, original.u), psnr(decoded.v, original.v)


def code_picture(rgb: np.ndarray, qp: int, preset: str = "faster", encoder: str = DEFAULT_ENCODER,
                 matrix: str = DEFAULT_MATRIX, cache: bool = True) -> tuple[np.ndarray, EncodeResult]:
    """Encode one RGB picture all-intra at `qp` and decode it back to RGB (same size as the input)."""
    from vcm.codec.colour import yuv_to_rgb

    clip = picture_to_clip(rgb, matrix)
    res = encode(clip, EncodeParams(qp=qp, preset=preset, intra=True), encoder=encoder, cache=cache)
    frame = decode(res.bitstream)[0]
    frame.display = clip.frames[0].display
    return yuv_to_rgb(frame, matrix), res


def read_input(path: str | Path, *, size: tuple[int, int] | None = None, pix_fmt: str | None = None,
               fps: float | None = None, matrix: str = DEFAULT_MATRIX, max_frames: int | None = None) -> YuvClip:
    """Any supported input as a clip: picture, raw .yuv (size and pix_fmt given), .y4m, or a video file."""
    from vcm import media
    from vcm.codec.colour import rgb_to_yuv

    p = Path(path)
    ext = p.suffix.lower()
    if ext in media.PICTURE_EXTS:
        return picture_to_clip(media.read_picture(p), matrix, source=str(p))
    if ext == ".y4m":
        frames, rate = media.read_y4m(p, max_frames)
        return YuvClip(frames, fps or rate, matrix, source=str(p))
    if ext == ".yuv":
        if not size:
            raise VcmError("raw YUV needs its size", path=p, fix="pass --size WIDTHxHEIGHT (and --pix-fmt)")
        frames = media.read_raw_yuv(p, size[0], size[1], pix_fmt or "yuv420p", max_frames)
        return YuvClip(frames, fps or 25.0, matrix, source=str(p))
    if ext in media.VIDEO_EXTS:
        rgb_frames, rate = media.read_video_rgb(p, max_frames)
        return YuvClip([rgb_to_yuv(f, matrix) for f in rgb_frames], fps or rate, matrix, source=str(p))
    media.check_input_file(p)
    raise VcmError(f"unsupported input type {ext or '(none)'}", path=p,
                   fix="use a picture (png/jpg/bmp/tif), .yuv, .y4m or a video file")
