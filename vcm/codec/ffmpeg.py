"""The default backend: the static ffmpeg shipped by imageio-ffmpeg>=0.8.1 (libvvenc encoder, native VVC
decoder), plus PyAV for in-process decoding.

Gotchas handled here (see ../shared/NOTES.md): presets set IntraQPOffset=-3, ffmpeg enables perceptual
QPA by default, and the motion-compensated temporal filter with block importance mapping (MCTF, BIM) lowers
the QP of some pictures by 1 in multi-frame clips, so all of them are switched off explicitly; the bitstream always goes to a file (vvenc prints on
stdout); the native decoder runs with ONE thread (multi-threaded it mis-decodes 64-px-wide streams).
The crops of one frame are coded by one ffmpeg run (`FFmpegEncoder.encode_crops`: split/crop, one libvvenc
per output), byte-identical to coding each crop alone.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from vcm.codec.base import RA_MIN_SIDES, Capabilities, CropJob, Decoder, EncodeParams, YuvClip, YuvFrame, crop_clip
from vcm.codec.colour import frame_to_bytes
from vcm.codec.encoder_log import PictureLog, picture_lines
from vcm.codec.external import ExternalEncoder, check_params, logged_result, run_logged
from vcm.errors import VcmError
from vcm.fsutil import atomic_path
from vcm.types import EncodeResult


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
    capabilities = Capabilities(presets=("faster", "fast", "medium", "slow", "slower"), ra_min_sides=RA_MIN_SIDES)

    def available(self) -> bool:
        return ffmpeg_has("libvvenc")

    def version(self) -> str:
        return f"ffmpeg {ffmpeg_info(ffmpeg_exe())['version']} libvvenc"

    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        vui = ["-vf", vui_filter(clip.matrix)] if params.vui else []
        return [*self._input_args(yuv_path, clip.width, clip.height, clip.fps), *vui,
                *self._output_args(params, out, params.threads)]

    def _input_args(self, yuv_path: Path, width: int, height: int, fps: float) -> list[str]:
        return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "debug",
                "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", f"{width}x{height}",
                "-framerate", f"{fps:g}", "-i", str(yuv_path)]

    def _output_args(self, params: EncodeParams, out: Path, threads: int) -> list[str]:
        # MCTF/BIM move frame QPs (-1 on filtered frames): off, so QP means the QP in the bitstream.
        vvenc_params = [f"IntraPeriod={1 if params.intra else params.intra_period}", "IntraQPOffset=0",
                        "MCTF=0", "BIM=0"]
        cmd = ["-c:v", "libvvenc", "-preset", params.preset, "-qp", str(params.qp),
               "-qpa", "1" if params.qpa else "0"]
        if threads:
            cmd += ["-threads", str(threads)]
        return cmd + ["-vvenc-params", ":".join(vvenc_params), *params.extra, "-f", "vvc", str(out)]

    def crops_command(self, yuv_path: Path, frame: YuvFrame, fps: float, jobs: Sequence[CropJob],
                      outs: Sequence[Path], matrix: str = "bt709") -> list[str]:
        """ONE ffmpeg run for all `jobs`: the whole frame in once, `-filter_complex` split + one exact crop per
        output, each output a libvvenc with exactly the options of a single encode (`_output_args`). Encoder
        threads: a job's own `threads`, else `crop_threads`."""
        n = len(jobs)
        graph = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n)) + "".join(
            f";[s{i}]{vui_filter(matrix) + ',' if j.params.vui else ''}crop=w={j.rect[2]}:h={j.rect[3]}:"
            f"x={j.rect[0]}:y={j.rect[1]}:exact=1[o{i}]" for i, j in enumerate(jobs))
        cmd = [*self._input_args(yuv_path, frame.width, frame.height, fps), "-filter_complex", graph]
        for i, (job, out) in enumerate(zip(jobs, outs)):
            cmd += ["-map", f"[o{i}]", *self._output_args(job.params, out, job.params.threads or crop_threads(n))]
        return cmd

    def encode_crops(self, frame: YuvFrame, jobs: Sequence[CropJob], fps: float = 1.0, matrix: str = "bt709",
                     workers: int | None = None) -> list[EncodeResult | Exception]:
        """All crops from ONE ffmpeg process per `MAX_CROP_OUTPUTS` crops (`crops_command`) instead of one
        process per crop; each stream is byte-identical to its single encode (tests/test_crop_batch.py).

        vvenc prints its per-picture lines on stdout without saying which encoder printed them: each output's
        line is found by its QP and its size (vvenc counts the bits of the access unit: 8 x the bytes of a
        one-picture file). A crop whose line is missing or ambiguous, and every crop of a run that failed
        (libvvenc refuses near-lossless QPs on some small crops, failing the whole run), is coded again on its
        own, so failures and their messages are those of single encodes."""
        if len(jobs) < 2:
            return super().encode_crops(frame, jobs, fps, matrix, workers)
        try:
            for job in jobs:
                check_params(self, job.params)
                frame.check_rect(job.rect)
        except (VcmError, ValueError):  # the single encodes say which crop and why
            return super().encode_crops(frame, jobs, fps, matrix, workers)
        results: list[EncodeResult | Exception | None] = []
        for k in range(0, len(jobs), MAX_CROP_OUTPUTS):
            results += self._encode_crops_once(frame, list(jobs[k:k + MAX_CROP_OUTPUTS]), fps, matrix)
        again = [i for i, r in enumerate(results) if r is None]
        if again:
            for i, r in zip(again, super().encode_crops(frame, [jobs[i] for i in again], fps, matrix, workers)):
                results[i] = r
        return results

    def _encode_crops_once(self, frame: YuvFrame, jobs: list[CropJob], fps: float,
                           matrix: str) -> list[EncodeResult | None]:
        """One ffmpeg run; None for each crop it could not vouch for (to be coded alone)."""
        with tempfile.TemporaryDirectory(prefix="vcm-enc-") as tmp:
            yuv = Path(tmp) / "input.yuv"
            yuv.write_bytes(frame_to_bytes(frame))
            outs = [Path(tmp) / f"out{i}.266" for i in range(len(jobs))]
            cmd = self.crops_command(yuv, frame, fps, jobs, outs, matrix)
            t0 = time.perf_counter()
            try:
                text = run_logged(cmd, Path(tmp) / "crops.log", f"{self.name} encoder")
            except VcmError:
                return [None] * len(jobs)
            seconds = (time.perf_counter() - t0) / len(jobs)  # the run's time, shared evenly
            sizes = [o.stat().st_size if o.exists() else 0 for o in outs]
            by_line: dict[tuple[int, int], list[PictureLog]] = {}
            for pic in picture_lines(text):
                by_line.setdefault((pic.qp, pic.bits), []).append(pic)
            wanted: dict[tuple[int, int], int] = {}
            for job, size in zip(jobs, sizes):
                wanted[(job.params.qp, 8 * size)] = wanted.get((job.params.qp, 8 * size), 0) + 1
            results: list[EncodeResult | None] = []
            for i, (job, size) in enumerate(zip(jobs, sizes)):
                pics = by_line.get((job.params.qp, 8 * size), [])
                same = len({(p.poc, p.slice_type, p.psnr_y, p.psnr_u, p.psnr_v) for p in pics}) == 1
                if size == 0 or len(pics) != wanted[(job.params.qp, 8 * size)] or not same or pics[0].poc != 0:
                    results.append(None)  # not provably this crop's line: code it alone
                    continue
                job.out.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(job.out) as tmp_out:
                    shutil.copyfile(outs[i], tmp_out)
                log_path = job.out.with_name(job.out.name + ".log")
                x, y, w, h = job.rect
                log_path.write_text(f"vcm: stream {i + 1} of {len(jobs)} coded by one ffmpeg run: crop {w}x{h} at "
                                    f"({x}, {y}) of the {frame.width}x{frame.height} frame; its picture line:\n"
                                    + pics[0].text + "\n")
                clip = crop_clip(frame, job.rect, fps, matrix)
                results.append(logged_result(self, job.out, size, clip, job.params, pics[:1], cmd, log_path, seconds))
            return results


# The colour description in the stream's VUI (8 bytes): the matrix vcm converted with (vcm.codec.colour),
# limited range, so a stock decoder (ffmpeg, players) turns the pictures back to RGB with the right matrix.
# `setparams` only tags the frames: ffmpeg's output option `-colorspace` would instead make ffmpeg convert the
# untagged raw input to that matrix through RGB before coding (measured: other bits, other PSNR).
VUI = {"bt709": ("bt709", "bt709", "bt709"), "bt601": ("smpte170m", "smpte170m", "smpte170m")}


def vui_filter(matrix: str) -> str:
    """The filter that tags the frames with primaries, transfer, matrix and limited range for libvvenc's VUI."""
    prim, trc, space = VUI[matrix]
    return f"setparams=color_primaries={prim}:color_trc={trc}:colorspace={space}:range=tv"


MAX_CROP_OUTPUTS = 16  # outputs of one ffmpeg run (a full QP sweep asks for 64 x objects crops)


def crop_threads(outputs: int) -> int:
    """Encoder threads of each output of a crop run: the CPUs shared among the outputs, at least one."""
    import os

    return max(1, (os.cpu_count() or 1) // max(1, outputs))


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
        """The file goes through libavcodec's VVC parser straight into a decoder context: the same pictures as
        opening it with the raw `vvc` demuxer, without the demuxer's probing (half the time of a small crop)."""
        import av

        frames = []
        try:
            ctx = av.CodecContext.create("vvc", "r")
            ctx.thread_count = 1  # before the decoder opens (on its first packet)
            ctx.thread_type = "NONE"
            for pkt in ctx.parse(Path(bitstream).read_bytes()) + ctx.parse(None):
                frames += [_frame_to_yuv(f) for f in ctx.decode(pkt)]
            frames += [_frame_to_yuv(f) for f in ctx.decode(None)]
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
