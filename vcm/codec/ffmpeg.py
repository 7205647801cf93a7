"""The default backend: the static ffmpeg shipped by imageio-ffmpeg>=0.8.1 (libvvenc encoder, native VVC
decoder), plus PyAV for in-process decoding.

Gotchas handled here (see ../shared/NOTES.md): presets set IntraQPOffset=-3, ffmpeg enables perceptual
QPA by default, and the motion-compensated temporal filter with block importance mapping (MCTF, BIM) lowers
the QP of some pictures by 1 in multi-frame clips, so all of them are switched off explicitly; the bitstream always goes to a file (vvenc prints on
stdout); the native decoder runs with ONE thread (multi-threaded it mis-decodes 64-px-wide streams).
"""
from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import numpy as np

from vcm.codec.base import Capabilities, Decoder, EncodeParams, YuvClip, YuvFrame
from vcm.codec.external import ExternalEncoder, run_logged
from vcm.errors import VcmError


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary (or $VCM_FFMPEG)."""
    import os

    env = os.environ.get("VCM_FFMPEG")
    if env:
        return env
    bundled = _bundled_ffmpeg()
    if bundled:
        return bundled
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # noqa: BLE001 - any failure means: no usable ffmpeg
        raise VcmError(f"no ffmpeg binary ({e})", fix="pip install 'imageio-ffmpeg>=0.8.1'") from None


def _bundled_ffmpeg() -> str | None:
    """imageio-ffmpeg's own binary, found without importing the package (that import costs a few per cent of
    a small `vcm vvc encode`); None when it is not unambiguous, and imageio_ffmpeg.get_ffmpeg_exe decides."""
    import importlib.util
    import os

    if os.environ.get("IMAGEIO_FFMPEG_EXE"):
        return None
    spec = importlib.util.find_spec("imageio_ffmpeg")
    if spec is None or not spec.origin:
        return None
    found = [p for p in (Path(spec.origin).parent / "binaries").glob("ffmpeg-*")
             if p.is_file() and os.access(p, os.X_OK)]
    return str(found[0]) if len(found) == 1 else None


@functools.lru_cache(maxsize=4)
def ffmpeg_info(exe: str) -> dict:
    """Version and VVC support of an ffmpeg binary; remembered on disk per binary (path, size, mtime), since
    asking costs three process starts on every command."""
    import json
    import os

    from vcm.codec.cache import state_dir

    try:
        st = os.stat(exe)
    except OSError:
        return {"version": "", "libvvenc": False, "vvc_decoder": False}
    memo = state_dir() / "ffmpeg-info.json"
    ident = f"{exe}|{st.st_size}|{st.st_mtime_ns}"
    try:  # one entry per binary: several venvs (several ffmpegs) sharing the cache do not evict each other
        saved = json.loads(memo.read_text()).get("binaries", {})
        if isinstance(saved.get(ident), dict):
            return saved[ident]
    except (OSError, ValueError, AttributeError):
        saved = {}
    try:
        ver = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, check=False).stdout
        enc = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False).stdout
        dec = subprocess.run([exe, "-hide_banner", "-decoders"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return {"version": "", "libvvenc": False, "vvc_decoder": False}
    m = re.search(r"ffmpeg version (\S+)", ver)
    info = {"version": m.group(1) if m else ver.split("\n")[0],
            "libvvenc": bool(re.search(r"\blibvvenc\b", enc)),
            "vvc_decoder": bool(re.search(r"^\s*V\S*\s+vvc\s", dec, re.M))}
    try:
        from vcm.fsutil import write_json_atomic

        others = {k: v for k, v in saved.items() if k.split("|")[0] != exe and isinstance(v, dict)}
        write_json_atomic(memo, {"binaries": {**dict(list(others.items())[-7:]), ident: info}})
    except OSError:
        pass
    return info


def ffmpeg_has(feature: str) -> bool:
    """Whether the ffmpeg binary exists and has `feature` ("libvvenc" or "vvc_decoder")."""
    try:
        return bool(ffmpeg_info(ffmpeg_exe())[feature])
    except VcmError:
        return False


class FFmpegEncoder(ExternalEncoder):
    name = "ffmpeg"
    capabilities = Capabilities(presets=("faster", "fast", "medium", "slow", "slower"))

    def available(self) -> bool:
        return ffmpeg_has("libvvenc")

    def version(self) -> str:
        return f"ffmpeg {ffmpeg_info(ffmpeg_exe())['version']} libvvenc"

    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        # MCTF/BIM move frame QPs (-1 on filtered frames): off, so QP means the QP in the bitstream.
        vvenc_params = [f"IntraPeriod={1 if params.intra else params.intra_period}", "IntraQPOffset=0",
                        "MCTF=0", "BIM=0"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "debug",
               "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", f"{clip.width}x{clip.height}",
               "-framerate", f"{clip.fps:g}", "-i", str(yuv_path),
               "-c:v", "libvvenc", "-preset", params.preset, "-qp", str(params.qp),
               "-qpa", "1" if params.qpa else "0"]
        if params.threads:
            cmd += ["-threads", str(params.threads)]
        cmd += ["-vvenc-params", ":".join(vvenc_params), *params.extra, "-f", "vvc", str(out)]
        return cmd


def _frame_to_yuv(frame) -> YuvFrame:
    """A PyAV yuv420p10le frame -> YuvFrame (copying out of the decoder's buffers, honouring line sizes)."""
    if frame.format.name != "yuv420p10le":
        frame = frame.reformat(format="yuv420p10le")
    planes = []
    for i, p in enumerate(frame.planes):
        w = frame.width if i == 0 else (frame.width + 1) // 2
        h = frame.height if i == 0 else (frame.height + 1) // 2
        a = np.frombuffer(p, dtype="<u2").reshape(-1, p.line_size // 2)[:h, :w]
        planes.append(a.astype(np.uint16))
    return YuvFrame(*planes)


class PyAVDecoder(Decoder):
    """In-process decoding with PyAV (libavcodec's native VVC decoder), one thread for determinism."""

    name = "pyav"

    def available(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("av") is not None

    def version(self) -> str:
        import av

        return f"pyav {av.__version__}"

    def decode(self, bitstream: Path) -> list[YuvFrame]:
        import av

        frames = []
        try:
            with av.open(str(bitstream), format="vvc") as c:
                st = c.streams.video[0]
                st.codec_context.thread_count = 1
                st.codec_context.thread_type = "NONE"
                for f in c.decode(st):
                    frames.append(_frame_to_yuv(f))
        except av.error.FFmpegError as e:
            raise VcmError(f"cannot decode the VVC bitstream ({e})", path=bitstream,
                           fix="the file is corrupt or not VVC: re-encode it") from None
        if not frames:
            raise VcmError("the bitstream holds no decodable picture", path=bitstream,
                           fix="the file is corrupt or truncated: re-encode it")
        return frames


class FFmpegDecoder(Decoder):
    """The ffmpeg command-line decoder (same libavcodec as PyAV), one thread, writing Y4M.

    For files whose pictures all have one size (any single stream). ffmpeg rescales the pictures of later
    sequences of other sizes to the first one's size, so vcm's multi-stream files are decoded per stream
    (vcm.container.decode_vcm_file) or with PyAV."""

    name = "ffmpeg"

    def available(self) -> bool:
        return ffmpeg_has("vvc_decoder")

    def version(self) -> str:
        return f"ffmpeg {ffmpeg_info(ffmpeg_exe())['version']} vvc"

    def decode(self, bitstream: Path) -> list[YuvFrame]:
        import tempfile

        from vcm.media import read_y4m

        with tempfile.TemporaryDirectory(prefix="vcm-dec-") as tmp:
            out = Path(tmp) / "out.y4m"
            cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-threads", "1", "-f", "vvc",
                   "-i", str(bitstream), "-f", "yuv4mpegpipe", "-strict", "-1", "-pix_fmt", "yuv420p10le",
                   "-fps_mode", "passthrough", str(out)]
            try:
                run_logged(cmd, Path(tmp) / "decode.log", "ffmpeg decoder")
            except VcmError as e:
                raise VcmError(f"cannot decode the VVC bitstream ({str(e)[:120]})", path=bitstream,
                               fix="the file is corrupt or not VVC: re-encode it") from None
            frames, _ = read_y4m(out)
        for f in frames:
            f.display = None
        return frames
