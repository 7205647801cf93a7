"""Plain VVC (the anchor everything else is measured against): encode any input file, decode to a file."""
from __future__ import annotations

import logging
from pathlib import Path

from vcm.codec import (DEFAULT_DECODER, DEFAULT_ENCODER, DEFAULT_MATRIX, EncodeParams, decode, encode,
                       read_input, yuv_to_rgb)
from vcm.errors import VcmError
from vcm.fsutil import refuse_overwrite_input, write_json_atomic
from vcm.types import EncodeResult

log = logging.getLogger(__name__)


def encode_file(src: str | Path, out: str | Path, params: EncodeParams, *, encoder: str = DEFAULT_ENCODER,
                size: tuple[int, int] | None = None, pix_fmt: str | None = None, fps: float | None = None,
                matrix: str = DEFAULT_MATRIX, max_frames: int | None = None, cache: bool = True,
                json_path: str | Path | None = None) -> EncodeResult:
    """Code `src` (picture, .yuv, .y4m or video) into the Annex-B file `out` at one QP."""
    refuse_overwrite_input(out, src)
    if json_path:
        refuse_overwrite_input(json_path, src)
    from vcm.container import check_bitstream_name

    check_bitstream_name(out)
    clip = read_input(src, size=size, pix_fmt=pix_fmt, fps=fps, matrix=matrix, max_frames=max_frames)
    res = encode(clip, params, out=out, encoder=encoder, cache=cache)
    disp = clip.frames[0].display_size
    if tuple(disp) != (res.width, res.height):  # padded to even: the true size rides in an SEI
        from vcm.container import add_display_size

        data = add_display_size(Path(out).read_bytes(), *disp)
        from vcm.fsutil import write_bytes_atomic

        write_bytes_atomic(out, data)
        res.bytes = len(data)
    res.params["display"] = list(disp)
    res.params["source"] = str(src)
    if json_path:
        write_json_atomic(json_path, res.to_json())
    return res


def decode_file(src: str | Path, out: str | Path, *, decoder: str = DEFAULT_DECODER, matrix: str = DEFAULT_MATRIX,
                crop: tuple[int, int] | None = None, fps: float = 25.0) -> int:
    """Decode an Annex-B VVC file to PNG/JPEG (first picture, or one file per picture with a %d pattern),
    Y4M (10-bit, as decoded) or a lossless MKV (FFV1). Returns the number of pictures written."""
    from vcm import media

    refuse_overwrite_input(out, src)
    frames = decode(src, decoder)
    if not crop and frames:  # `vcm vvc encode` of an odd-sized picture says its true size in an SEI
        from vcm.container import read_display_size
        from vcm.media import check_input_file

        with open(check_input_file(src), "rb") as f:
            disp = read_display_size(f.read(1 << 16))
        if disp and 0 <= frames[0].width - disp[0] <= 1 and 0 <= frames[0].height - disp[1] <= 1:
            crop = disp if Path(out).suffix.lower() != ".y4m" else None
    if crop:
        for f in frames:
            if crop[0] > f.width or crop[1] > f.height:
                raise VcmError(f"--crop {crop[0]}x{crop[1]} is larger than the coded {f.width}x{f.height}",
                               path=src, fix="give the original picture size")
            f.display = crop
    ext = Path(out).suffix.lower()
    if ext == ".y4m":
        if crop:
            raise VcmError("Y4M output keeps the coded size", path=out, fix="drop --crop or write .png/.mkv")
        media.write_y4m(out, frames, fps)
    elif ext in (".mkv",):
        media.write_video_lossless(out, [yuv_to_rgb(f, matrix) for f in frames], fps)
    elif ext in media.PICTURE_EXTS:
        if "%" in Path(out).name:
            media.write_frame_pictures(out, [yuv_to_rgb(f, matrix) for f in frames])
        else:
            if len(frames) > 1:
                log.warning("%s holds %d pictures; writing the first (use a %%d pattern for all)", src, len(frames))
            media.write_picture(out, yuv_to_rgb(frames[0], matrix))
            return 1
    else:
        raise VcmError(f"unsupported output type {ext or '(none)'}", path=out, fix="use .png, .y4m or .mkv")
    return len(frames)
