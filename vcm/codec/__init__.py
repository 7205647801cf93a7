"""The VVC codec layer: backends chosen by name, one colour conversion, an encode cache.

    clip = picture_to_clip(read_picture("bus.jpg"))
    res = encode(clip, EncodeParams(qp=37))          # EncodeResult, cached by content
    crops = encode_crops(clip.frames[0], rects, [EncodeParams(qp=q) for q in qps])  # one process (ffmpeg)
    rgb = yuv_to_rgb(decode(res.bitstream)[0])       # back to RGB, one decoder thread

Backends: encoders `ffmpeg` (default: imageio-ffmpeg's static ffmpeg with libvvenc), `vvenc`
(vvencFFapp/vvencapp on PATH), `vtm` (EncoderApp); decoders `pyav` (default), `ffmpeg`, `vvdec`, `vtm`.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import tempfile
from dataclasses import replace
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
           "read_input", "psnr", "decoded_psnr", "encode_crops", "ENCODERS", "DECODERS"]


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
        fix = obj.missing_fix() if hasattr(obj, "missing_fix") else (
            f"use --{kind} {DEFAULT_ENCODER if kind == 'encoder' else DEFAULT_DECODER}")
        raise VcmError(f"{kind} {name!r} is not usable on this machine (program missing)",
                       fix=f"{fix}; `vcm doctor` lists what works here")
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


def _store(cache: bool | object):
    """The EncodeCache to use: the one given, a default one for True, None for False."""
    from vcm.codec.cache import EncodeCache

    return (cache if isinstance(cache, EncodeCache) else EncodeCache()) if cache else None


def _key(store, clip: YuvClip, enc: Encoder, params: EncodeParams) -> str | None:
    from vcm.codec.cache import cache_key, clip_digest

    return cache_key(clip_digest(clip), enc.name, enc.version(), params) if store else None


def _put(store, key: str, res: EncodeResult) -> EncodeResult:
    """Move a fresh encode (coded in a temp folder) into the cache."""
    res = store.put(key, res)
    res.cached = False
    return res


def encode(clip: YuvClip, params: EncodeParams, out: str | Path | None = None,
           encoder: str | Encoder = DEFAULT_ENCODER, cache: bool | object = True) -> EncodeResult:
    """Code a clip; with `cache` (True, or an EncodeCache) an identical earlier encode is reused.

    With `out`, the bitstream is (also) written there atomically and the result points at it.
    """
    enc = create_encoder(encoder)
    log.info("encode %s %dx%d x%d frames, %s limited range 10-bit 4:2:0, %s", clip.source or "<clip>",
             clip.width, clip.height, len(clip.frames), clip.matrix, params)
    store = _store(cache)
    key = _key(store, clip, enc, params)
    res = store.get(key) if store else None
    if res is None and store is None:  # no cache: code straight into `out` (or a temp folder the caller keeps)
        return enc.encode(clip, params, Path(out) if out else _temp_dir() / "out.266")
    if res is None:  # cache miss: code in a temp folder, move into the cache
        with tempfile.TemporaryDirectory(prefix="vcm-") as tmp:
            res = _put(store, key, enc.encode(clip, params, Path(tmp) / "out.266"))
    if out is not None and Path(out).resolve() != Path(res.bitstream).resolve():
        with atomic_path(out) as tmp:
            shutil.copyfile(res.bitstream, tmp)
        res.bitstream = Path(out)
    return res


def encode_crops(frame: YuvFrame, rects, params, encoder: str | Encoder = DEFAULT_ENCODER,
                 matrix: str = DEFAULT_MATRIX, cache: bool | object = True, fps: float = 1.0,
                 sources=None) -> list[EncodeResult]:
    """`encode(crop_clip(frame, rect), params)` for every (rect, params) pair, byte for byte and under the same
    cache keys, but the crops the cache lacks go to the backend together (`Encoder.encode_crops`: ffmpeg codes
    them in one process). The same crop twice is coded once. Every success is cached before the first failure
    (in order) is raised."""
    from vcm.codec.base import CropJob, crop_clip

    enc = create_encoder(encoder)
    rects, params = [tuple(int(v) for v in r) for r in rects], list(params)
    if len(rects) != len(params):
        raise ValueError(f"{len(rects)} rectangles but {len(params)} encode settings")
    sources = list(sources) if sources is not None else [""] * len(rects)
    store = _store(cache)
    results: list[EncodeResult | Exception | None] = [None] * len(rects)
    todo: dict[object, list[int]] = {}  # cache key (or position, without a cache) -> positions wanting it
    for i, (rect, p) in enumerate(zip(rects, params)):
        clip = crop_clip(frame, rect, fps, matrix, sources[i])
        log.info("encode %s %dx%d crop at (%d, %d), %s limited range 10-bit 4:2:0, %s", clip.source or "<crop>",
                 rect[2], rect[3], rect[0], rect[1], matrix, p)
        key = _key(store, clip, enc, p)
        results[i] = store.get(key) if store else None
        if results[i] is None:
            todo.setdefault(key if store else i, []).append(i)
    if todo:
        # a cache miss is coded in a temp folder and moved into the cache; without a cache the files must stay
        with tempfile.TemporaryDirectory(prefix="vcm-") if store else contextlib.nullcontext(_temp_dir()) as tmp:
            folder = Path(tmp)
            keys = list(todo)
            jobs = [CropJob(rects[todo[k][0]], params[todo[k][0]], folder / f"crop{n}.266") for n, k in enumerate(keys)]
            for k, got in zip(keys, enc.encode_crops(frame, jobs, fps, matrix)):
                if store and not isinstance(got, Exception):
                    got = _put(store, k, got)
                for n_i, i in enumerate(todo[k]):  # the same crop twice: one encode, a result object each
                    results[i] = got if n_i == 0 or isinstance(got, Exception) else replace(got)
    failed = next((r for r in results if isinstance(r, Exception)), None)
    if failed is not None:
        raise failed
    return results


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
        media.check_coding_size(frames[0].display_size, p)
        return YuvClip(frames, fps or rate, matrix, source=str(p))
    if ext == ".yuv":
        if not size:
            raise VcmError("raw YUV needs its size", path=p, fix="pass --size WIDTHxHEIGHT (and --pix-fmt)")
        frames = media.read_raw_yuv(p, size[0], size[1], pix_fmt or "yuv420p", max_frames)
        media.check_coding_size(frames[0].display_size, p)
        return YuvClip(frames, fps or 25.0, matrix, source=str(p))
    if ext in media.VIDEO_EXTS:
        rgb_frames, rate = media.read_video_rgb(p, max_frames)
        return YuvClip([rgb_to_yuv(f, matrix) for f in rgb_frames], fps or rate, matrix, source=str(p))
    media.check_input_file(p)
    raise VcmError(f"unsupported input type {ext or '(none)'}", path=p,
                   fix="use a picture (png/jpg/bmp/tif), .yuv, .y4m or a video file")
