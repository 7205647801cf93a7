"""Reading and writing pictures, raw YUV, Y4M and video files.

Pictures come back as RGB uint8 whatever they were on disk (grey, RGBA, 16-bit); every reader raises a
one-line VcmError naming the file on a missing, empty or corrupt input. Video frames go through the same
RGB -> YUV conversion as pictures (vcm.codec.colour), except raw YUV and Y4M, which are coded as they are.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from vcm.errors import VcmError
from vcm.fsutil import atomic_path

log = logging.getLogger(__name__)

PICTURE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".y4m"}


def check_input_file(path: str | Path) -> Path:
    """The common checks on an input path: exists, is a file, is not empty."""
    p = Path(path)
    if not p.exists():
        raise VcmError("no such file", path=p, fix="check the path")
    if p.is_dir():
        raise VcmError("not a file", path=p, fix="give a file, not a folder")
    if not p.is_file():
        from vcm.fsutil import NOT_REGULAR

        raise VcmError(NOT_REGULAR, path=p, fix="give a picture or video file")
    if p.stat().st_size == 0:
        raise VcmError("file is empty (0 bytes)", path=p, fix="re-create or re-download it")
    return p


def max_picture_pixels() -> int:
    """The pixel count above which a picture is refused unread: $VCM_MAX_PIXELS, else MAX_PICTURE_PIXELS."""
    import os

    from vcm.settings import MAX_PICTURE_PIXELS, MAX_PIXELS_ENV

    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return MAX_PICTURE_PIXELS
    try:
        n = int(float(raw))
        if n <= 0:
            raise ValueError(raw)
    except (ValueError, OverflowError):
        raise VcmError(f"{MAX_PIXELS_ENV}={raw!r} is not a positive pixel count",
                       fix=f"set {MAX_PIXELS_ENV} to a whole number such as 400000000, or unset it") from None
    return n


def probe_picture(p: Path) -> tuple[int, int, int] | None:
    """(width, height, frames) from the file's header, decoding no pixels (Pillow reads headers lazily);
    None where Pillow does not know the format (OpenCV then decodes it as usual)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - matplotlib depends on Pillow
        return None
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # vcm checks the size itself, with its own limit and message
    try:
        with Image.open(p) as im:
            w, h = im.size
            frames = int(getattr(im, "n_frames", 1)) if getattr(im, "is_animated", False) else 1
            return int(w), int(h), frames
    except Exception:  # noqa: BLE001 - unknown or damaged header: OpenCV decides and reports
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = old


def check_picture_header(path: str | Path) -> tuple[int, int, int] | None:
    """Refuse, before any pixel is decoded, a picture whose header claims more pixels than the limit (a
    decompression bomb: a few hundred kB that decode to gigabytes), naming its size, the limit and the
    override; warn that only the first frame of an animated picture (GIF, WebP, multi-page TIFF) is coded."""
    import os

    from vcm.settings import MAX_PIXELS_ENV

    p = Path(path)
    info = probe_picture(p)
    if info is None:
        return None
    w, h, frames = info
    limit = max_picture_pixels()
    if w * h > limit:
        raise VcmError(f"{w}x{h} is {w * h / 1e6:.1f} megapixels, over the limit of {limit / 1e6:.1f} "
                       "(a picture this large, or a decompression bomb: not decoded)", path=p,
                       fix=f"shrink the picture, or raise the limit if it is genuine: {MAX_PIXELS_ENV}={w * h}")
    if limit > 1 << 30:  # OpenCV has a limit of its own (2^30 pixels); the override raises it too
        os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(limit))
    if frames > 1:
        log.warning("warning: %s: an animated picture (%d frames): only its first frame is coded (to code every "
                    "frame, make it a video first: ffmpeg -i %s %s.mp4)", p, frames, p.name, p.stem)
    return info


def read_picture(path: str | Path) -> np.ndarray:
    """Read a picture as RGB uint8 (H, W, 3). 16-bit is scaled down, grey replicated, alpha dropped. The size
    is checked from the header first (`check_picture_header`)."""
    import cv2

    p = check_input_file(path)
    check_picture_header(p)
    data = np.fromfile(p, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise VcmError("cannot decode the picture (corrupt or unsupported format)", path=p,
                       fix="use a valid PNG, JPEG, BMP or TIFF")
    if img.dtype == np.uint16:
        img = np.clip(np.rint(img.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        log.info("%s: 16-bit picture scaled to 8-bit", p)
    elif img.dtype != np.uint8:
        raise VcmError(f"unsupported sample type {img.dtype}", path=p, fix="convert to 8- or 16-bit")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)  # alpha dropped: the encoder codes colour only
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


def write_picture(path: str | Path, rgb: np.ndarray, atomic: bool = True) -> None:
    """Write RGB uint8 to PNG/JPEG/... atomically (`atomic=False`: straight into `path`, a staged temp)."""
    import cv2

    path = Path(path)
    try:
        ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise VcmError("cannot encode a picture with this extension", path=path, fix="use .png")
    if not atomic:
        path.write_bytes(buf.tobytes())
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def read_video_rgb(path: str | Path, max_frames: int | None = None,
                   matrix: str = "bt709") -> tuple[list[np.ndarray], float]:
    """Decode a video file (anything ffmpeg/PyAV reads, and Y4M) to RGB uint8 frames and its frame rate."""
    rgb, fps, _ = read_video(path, max_frames, matrix)
    return rgb, fps


def read_video(path: str | Path, max_frames: int | None = None, matrix: str = "bt709"):
    """RGB uint8 frames, frame rate and, for a Y4M file, its own 10-bit 4:2:0 frames (None for other videos):
    Y4M is coded as it is, its RGB (through `matrix`) only feeds the detector."""
    if Path(path).suffix.lower() == ".y4m":
        from vcm.codec.colour import yuv_to_rgb

        yuv, fps = read_y4m(path, max_frames)
        check_coding_size(yuv[0].display_size, path)
        return [yuv_to_rgb(f, matrix) for f in yuv], fps, yuv
    import av

    p = check_input_file(path)
    frames: list[np.ndarray] = []
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                others = ", ".join(sorted({s.type for s in container.streams})) or "no streams at all"
                raise VcmError(f"holds no video stream ({others}): no video frames to code", path=p,
                               fix="give a file with a video track")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            expected = int(stream.frames or 0)
            if not expected and container.duration and fps:  # no frame count (mkv): duration x rate
                expected = int(container.duration / 1e6 * fps * 0.9)  # 10 % slack for rounding and VFR
            try:
                for frame in container.decode(stream):
                    frames.append(frame.to_ndarray(format="rgb24"))
                    if max_frames and len(frames) >= max_frames:
                        break
            except av.error.FFmpegError:
                if not frames:
                    raise
                _warn_truncated(p, len(frames))  # damaged or cut after some frames: code what decoded
                expected = 0
            if expected and len(frames) < min(expected, max_frames or expected):
                _warn_truncated(p, len(frames), expected)
    except av.error.EOFError:  # a container header and no frame (e.g. written with -frames:v 0)
        raise VcmError("holds no video frames (the file ends before its first frame)", path=p,
                       fix="give a file whose video track has frames") from None
    except av.error.FFmpegError as e:
        raise VcmError(f"cannot read video ({e.__class__.__name__})", path=p, fix="check the file") from None
    if not frames:
        raise VcmError("holds no video frames (its video stream is empty)", path=p,
                       fix="give a file whose video track has frames")
    return frames, fps, None


def check_coding_size(size: tuple[int, int], path: str | Path) -> None:
    """Frames smaller than the encoder codes (16x16, vcm.codec.colour.MIN_SIZE) are refused, naming the file."""
    from vcm.codec.colour import MIN_SIZE

    w, h = size
    if w < MIN_SIZE or h < MIN_SIZE:
        raise VcmError(f"frames are {w}x{h}, too small for the VVC encoder", path=path,
                       fix=f"use frames of at least {MIN_SIZE}x{MIN_SIZE} pixels")


def iter_video_rgb(path: str | Path, start: int = 0, max_frames: int | None = None):
    """(index, RGB uint8 frame) of frames [start, start + max_frames) of a video, one at a time (a long video is
    never held in memory: `vcm detect clip.mp4`). Errors as `read_video_rgb`."""
    import av

    p = check_input_file(path)
    n = 0
    try:
        with av.open(str(p)) as container:
            stream = container.streams.video[0]
            try:
                for i, frame in enumerate(container.decode(stream)):
                    if i < start:
                        continue
                    yield i, frame.to_ndarray(format="rgb24")
                    n += 1
                    if max_frames and n >= max_frames:
                        break
            except av.error.FFmpegError:
                if not n:
                    raise
                _warn_truncated(p, n)
    except (av.error.FFmpegError, IndexError) as e:
        raise VcmError(f"cannot read video ({e.__class__.__name__})", path=p, fix="check the file") from None
    if not n:
        raise VcmError(f"the video has no frame at or after frame {start}" if start else "video has no frames",
                       path=p, fix="lower --start" if start else "check the file")


def _warn_truncated(path: Path, got: int, expected: int | None = None) -> None:
    of = f" of about {expected} its header promises" if expected else ""
    log.warning("warning: %s is truncated or damaged: coding the %d frame(s) that decoded%s", path, got, of)


_Y4M_CHROMA = {"420": 8, "420jpeg": 8, "420paldv": 8, "420mpeg2": 8, "420p10": 10}


def read_y4m(path: str | Path, max_frames: int | None = None):
    """Read a 4:2:0 Y4M file (8- or 10-bit) as 10-bit frames plus its frame rate."""
    from vcm.codec.base import YuvFrame

    p = check_input_file(path)
    data = p.read_bytes()
    nl = data.find(b"\n")
    header = data[:nl].decode("ascii", "replace").split()
    if not header or header[0] != "YUV4MPEG2":
        raise VcmError("not a Y4M file (bad header)", path=p, fix="check the file")
    fields = {t[0]: t[1:] for t in header[1:] if t}
    try:
        w, h = int(fields["W"]), int(fields["H"])
        num, _, den = fields.get("F", "25:1").partition(":")
        fps = float(num) / float(den or 1)
    except (KeyError, ValueError, ZeroDivisionError):
        raise VcmError("Y4M header has no valid W, H or F", path=p, fix="check the file") from None
    if not (1 <= w <= 16384 and 1 <= h <= 16384) or not 0 < fps < 1e4:
        raise VcmError(f"Y4M header says {w}x{h} at {fps:g} fps", path=p, fix="check the file")
    chroma = fields.get("C", "420jpeg")
    if chroma not in _Y4M_CHROMA:
        raise VcmError(f"Y4M chroma {chroma} not supported", path=p, fix="convert to 4:2:0")
    bits = _Y4M_CHROMA[chroma]
    bps = 2 if bits > 8 else 1
    cw, ch = (w + 1) // 2, (h + 1) // 2
    fsize = (w * h + 2 * cw * ch) * bps
    frames = []
    pos = nl + 1
    while pos < len(data):
        if not data.startswith(b"FRAME", pos):
            if frames:
                _warn_truncated(p, len(frames))
                break
            raise VcmError("Y4M frame marker missing (truncated?)", path=p, fix="check the file")
        pos = data.find(b"\n", pos) + 1
        buf = data[pos:pos + fsize]
        if len(buf) < fsize:
            if frames:
                _warn_truncated(p, len(frames))
                break
            raise VcmError("Y4M file is truncated", path=p, fix="check the file")
        a = np.frombuffer(buf, dtype="<u2" if bps == 2 else np.uint8).astype(np.uint16)
        if bps == 1:
            a = a << 2
        planes = (a[:w * h].reshape(h, w), a[w * h:w * h + cw * ch].reshape(ch, cw),
                  a[w * h + cw * ch:].reshape(ch, cw))
        frames.append(_even_frame(*planes, YuvFrame))
        pos += fsize
        if max_frames and len(frames) >= max_frames:
            break
    if not frames:
        raise VcmError("Y4M file has no frames", path=p, fix="check the file")
    return frames, fps


def read_raw_yuv(path: str | Path, width: int, height: int, pix_fmt: str = "yuv420p",
                 max_frames: int | None = None):
    """Read raw planar 4:2:0 YUV (`yuv420p` 8-bit or `yuv420p10le`) as 10-bit frames."""
    from vcm.codec.base import YuvFrame

    p = check_input_file(path)
    if pix_fmt not in ("yuv420p", "yuv420p10le"):
        raise VcmError(f"raw format {pix_fmt} not supported", path=p, fix="use yuv420p or yuv420p10le")
    if width < 1 or height < 1:
        raise VcmError(f"size {width}x{height} has no pixels", path=p, fix="pass --size WIDTHxHEIGHT of the video")
    bps = 2 if pix_fmt == "yuv420p10le" else 1
    cw, ch = (width + 1) // 2, (height + 1) // 2
    fsize = (width * height + 2 * cw * ch) * bps
    size = p.stat().st_size
    if size % fsize or size < fsize:
        raise VcmError(f"size {size} bytes is not a whole number of {width}x{height} {pix_fmt} frames", path=p,
                       fix="check --size and --pix-fmt")
    a = np.fromfile(p, dtype="<u2" if bps == 2 else np.uint8).astype(np.uint16)
    if bps == 1:
        a = a << 2
    frames = []
    for i in range(size // fsize):
        f = a[i * fsize // bps:(i + 1) * fsize // bps]
        frames.append(_even_frame(f[:width * height].reshape(height, width),
                                  f[width * height:width * height + cw * ch].reshape(ch, cw),
                                  f[width * height + cw * ch:].reshape(ch, cw), YuvFrame))
        if max_frames and len(frames) >= max_frames:
            break
    return frames


def _even_frame(y, u, v, cls):
    """Pad an odd-sized 4:2:0 frame to even luma size (edge replication), keeping the display size."""
    h, w = y.shape
    if h % 2 == 0 and w % 2 == 0:
        return cls(y.copy(), u.copy(), v.copy())
    y2 = np.pad(y, ((0, h % 2), (0, w % 2)), mode="edge")
    return cls(y2, u.copy(), v.copy(), display=(w, h))


def write_y4m(path: str | Path, frames, fps: float = 25.0) -> None:
    """Write 10-bit 4:2:0 frames (cropped to display size is not possible in 4:2:0 odd sizes: coded size)."""
    num, den = _fps_fraction(fps)
    w, h = frames[0].width, frames[0].height
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{num}:{den} Ip A1:1 C420p10 XYSCSS=420P10\n".encode())
        for fr in frames:
            f.write(b"FRAME\n")
            for plane in (fr.y, fr.u, fr.v):
                f.write(np.ascontiguousarray(plane, dtype="<u2").tobytes())


def write_video_lossless(path: str | Path, rgb_frames: list[np.ndarray], fps: float = 25.0) -> None:
    """Write RGB frames to a lossless FFV1 Matroska file (frame count, size and rate preserved)."""
    import av

    num, den = _fps_fraction(fps)
    from fractions import Fraction

    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="matroska") as out:
            st = out.add_stream("ffv1", rate=Fraction(num, den))
            st.width, st.height = rgb_frames[0].shape[1], rgb_frames[0].shape[0]
            st.pix_fmt = "bgr0"
            for rgb in rgb_frames:
                vf = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr0")
                for pkt in st.encode(vf):
                    out.mux(pkt)
            for pkt in st.encode():
                out.mux(pkt)


def frame_names(pattern: str | Path, count: int) -> list[Path]:
    """The picture names a `%d` pattern gives frames 0..count-1 (`f_%04d.png` -> f_0000.png, ...); the pattern
    needs exactly one integer field (`%d`, `%04d`) and a picture extension."""
    pattern = Path(pattern)
    fields = re.findall(r"%[-0 +#]*\d*[a-zA-Z%]", pattern.name)
    if len([f for f in fields if f != "%%"]) != 1 or not fields or not any(f.endswith("d") for f in fields):
        raise VcmError("a frame pattern needs exactly one %d field (f_%04d.png)", path=pattern,
                       fix="name the frames e.g. f_%04d.png")
    if pattern.suffix.lower() not in PICTURE_EXTS:
        raise VcmError(f"frames are written as pictures, not {pattern.suffix or 'no extension'}", path=pattern,
                       fix="end the pattern in .png (or .jpg, .bmp, .tif)")
    return [pattern.with_name(pattern.name % i) for i in range(count)]


def write_frame_pictures(pattern: str | Path, rgb_frames: list[np.ndarray]) -> list[Path]:
    """Every frame as a picture named by `pattern` (frame_names); they appear together or not at all."""
    from vcm.fsutil import StagedFiles

    names = frame_names(pattern, len(rgb_frames))
    with StagedFiles() as staged:
        for name, rgb in zip(names, rgb_frames):
            write_picture(staged.path(name), rgb, atomic=False)
    return names


def _fps_fraction(fps: float) -> tuple[int, int]:
    from fractions import Fraction

    f = Fraction(fps).limit_denominator(1001)
    return f.numerator, f.denominator


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not m:
        raise VcmError(f"bad size {text!r}", fix="write it as WIDTHxHEIGHT, e.g. 1920x1080")
    w, h = int(m.group(1)), int(m.group(2))
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        raise VcmError(f"size {w}x{h} is outside 1x1..16384x16384", fix="give the picture's real WIDTHxHEIGHT")
    return w, h
