"""What every external-encoder backend shares: write the frames once as raw yuv420p10le, run the program
with an argument list, keep its log, check its exit code, its output and the slice QPs it reports."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from vcm.codec.base import Decoder, EncodeParams, Encoder, YuvClip, YuvFrame
from vcm.codec.colour import frame_to_bytes
from vcm.codec.encoder_log import parse_picture_lines
from vcm.errors import VcmError
from vcm.fsutil import atomic_path
from vcm.types import EncodeResult


def run_logged(cmd: list[str], log_path: Path, what: str, timeout: float | None = None,
               env: dict[str, str] | None = None) -> str:
    """Run `cmd` (with `env` added to the environment) with stdout+stderr going to `log_path`; raise VcmError
    naming the log on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as logf:
        try:
            proc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout, check=False, env={**os.environ, **env} if env else None)
        except FileNotFoundError:
            raise VcmError(f"{what}: program not found: {cmd[0]}", fix="install it or run `vcm doctor`") from None
        except subprocess.TimeoutExpired:
            raise VcmError(f"{what}: timed out after {timeout} s", path=log_path) from None
    text = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        lines = [line.strip() for line in text.strip().splitlines()]
        errors = [line for line in lines if re.search(r"\b(Error|error:|ERROR)", line)]
        reason = errors[0] if errors else " | ".join(lines[-3:])  # the first error says why; the tail, what
        raise VcmError(f"{what} failed with exit code {proc.returncode}: {reason[-300:]}",
                       path=_keep_log(log_path), fix="see the log")
    return text


def _keep_log(log_path: Path) -> Path:
    """A failed run's log usually lives in a temp folder that is removed as the error propagates: keep a copy
    in the cache's state folder (logs/) so the path the error names still exists."""
    import os
    import time

    try:
        from vcm.codec.cache import state_dir

        d = state_dir() / "logs"
        d.mkdir(parents=True, exist_ok=True)
        kept = d / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{log_path.name}"
        shutil.copyfile(log_path, kept)
        return kept
    except OSError:
        return log_path


def which(*names: str) -> str | None:
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


def program_version(exe: str | None, pattern: str = r"(\d+\.\d+(?:\.\d+)?)") -> str:
    """The version an external program prints for --version ('' when it cannot run)."""
    if not exe:
        return ""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(pattern, out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


class ExternalProgram:
    """A backend that is one program named by an environment variable, found on PATH (`programs`), or built
    by vcm's tools into its build cache (`builds`: vcm.codec.builds, when `uses_builds`)."""

    programs: ClassVar[tuple[str, ...]] = ()
    env_var: ClassVar[str] = ""
    version_pattern: ClassVar[str] = r"(\d+\.\d+(?:\.\d+)?)"
    fallback: ClassVar[str] = ""  # the option to suggest when the program is missing
    builds: ClassVar[tuple[str, ...]] = ()  # (build name, program paths under its cache folder...)
    uses_builds: ClassVar[bool] = True  # False: the builds are reported by `vcm doctor` but not used by themselves

    def __init__(self, exe: str | None = None):
        self.exe = exe or os.environ.get(self.env_var) or which(*self.programs) or (
            self.built_exe() if self.uses_builds else None)

    @classmethod
    def built_exe(cls) -> str | None:
        """The first program of vcm's build cache for this backend (tools/build_*.py), if one was built."""
        if not cls.builds:
            return None
        from vcm.codec.builds import built_programs

        found = built_programs(*cls.builds)
        return str(found[0]) if found else None

    def available(self) -> bool:
        return bool(self.exe)

    def version(self) -> str:
        return f"{Path(self.exe).name if self.exe else self.programs[0]} {program_version(self.exe, self.version_pattern)}"

    def missing_fix(self) -> str:
        """What makes the program usable when it is missing (every error and `vcm doctor` say it this way)."""
        built = None if self.uses_builds else self.built_exe()  # a build vcm does not use by itself
        if built:
            return f"built at {built}: export {self.env_var}={built} to use it"
        return f"put it on PATH, set {self.env_var}, or use {self.fallback}"

    def require_exe(self) -> str:
        if not self.exe:
            raise VcmError(f"{' or '.join(self.programs)} not found", fix=self.missing_fix())
        return self.exe


class ExternalEncoder(Encoder):
    """An encoder program that reads raw yuv420p10le and writes an Annex-B file, logging per-picture lines."""

    def encode(self, clip: YuvClip, params: EncodeParams, out: Path) -> EncodeResult:
        check_params(self, params)
        check_clip_size(self, clip, params)
        out = Path(out)
        log_path = out.with_name(out.name + ".log")
        with tempfile.TemporaryDirectory(prefix="vcm-enc-") as tmp:
            yuv = Path(tmp) / "input.yuv"
            with open(yuv, "wb") as f:
                for fr in clip.frames:
                    f.write(frame_to_bytes(fr))
            self.write_side_files(Path(tmp), clip, params)
            with atomic_path(out) as tmp_out:
                cmd = self.command(yuv, clip, params, tmp_out)
                t0 = time.perf_counter()
                try:
                    text = run_logged(cmd, log_path, f"{self.name} encoder")
                except VcmError as e:
                    if params.qp <= 5:  # seen with libvvenc: QP 0-5 on small detailed pictures (exit 187)
                        raise VcmError(str(e).split(". Fix:")[0], fix="near-lossless QPs can fail inside the "
                                       "encoder on small detailed pictures: use a higher QP; see the log") from None
                    raise
                seconds = time.perf_counter() - t0
                if not tmp_out.exists() or tmp_out.stat().st_size == 0:
                    raise VcmError(f"{self.name} encoder wrote no bitstream", path=log_path, fix="see the log")
                nbytes = tmp_out.stat().st_size
        pics = parse_picture_lines(text)
        if len(pics) != len(clip.frames):
            raise VcmError(f"{self.name} encoder logged {len(pics)} pictures, expected {len(clip.frames)}",
                           path=log_path, fix="see the log")
        check_slice_qps(pics, params, log_path)
        self.check_log(text, pics, params, log_path)
        return logged_result(self, out, nbytes, clip, params, pics, cmd, log_path, seconds)

    def write_side_files(self, folder: Path, clip: YuvClip, params: EncodeParams) -> None:
        """Files the command reads beside input.yuv (a backend's QP map); none by default."""

    def check_log(self, text: str, pics, params: EncodeParams, log_path: Path) -> None:
        """Checks of the log beyond the slice QPs (a backend's per-CTU QPs); none by default."""


def logged_result(enc: Encoder, out: Path, nbytes: int, clip: YuvClip, params: EncodeParams, pics, cmd,
                  log_path: Path, seconds: float, **extra_params) -> EncodeResult:
    """The EncodeResult of an external encoder run from the pictures its log reported (one per frame)."""
    return EncodeResult(
        bitstream=out, bytes=nbytes, width=clip.width, height=clip.height, frames=len(clip.frames),
        fps=clip.fps, qp=params.qp, bits_per_frame=[p.bits for p in pics],
        psnr_y=[p.psnr_y for p in pics], psnr_u=[p.psnr_u for p in pics], psnr_v=[p.psnr_v for p in pics],
        slice_qps=[p.qp for p in pics], seconds=seconds, backend=enc.name, backend_version=enc.version(),
        command=[str(c) for c in cmd], log_path=log_path,
        params={**params.to_json(), "matrix": clip.matrix, **extra_params}, cached=False)


def check_params(enc: Encoder, params: EncodeParams) -> None:
    if not isinstance(params.qp, int) or not 0 <= params.qp <= enc.capabilities.max_qp:
        raise VcmError(f"QP {params.qp} is out of range", fix=f"use an integer QP 0..{enc.capabilities.max_qp}")
    if params.preset not in enc.capabilities.presets:
        raise VcmError(f"preset {params.preset!r} is not known to {enc.name}",
                       fix=f"use one of {', '.join(enc.capabilities.presets)}")
    if not params.intra and not enc.capabilities.random_access:
        raise VcmError(f"{enc.name} cannot code random access here", fix="use --intra")


def check_clip_size(enc: Encoder, clip: YuvClip, params: EncodeParams) -> None:
    """Sizes the encoder is known to refuse get a size message naming the input, not an encoder log."""
    need = enc.capabilities.ra_min_sides
    if not params.intra and need and clip.width + clip.height < need:
        raise VcmError(f"frames of {clip.width}x{clip.height} are too small for random-access coding with "
                       f"{enc.name} (it needs width + height >= {need}, e.g. 24x16 or 20x20; all-intra codes "
                       f"16x16)", path=clip.source or None, fix="code it all-intra (--intra) or use larger frames")


def check_slice_qps(pics, params: EncodeParams, log_path: Path) -> None:
    """QP means the QP in the bitstream: every all-intra picture, and the intra pictures of random access,
    must carry exactly the QP asked for (other RA pictures carry the GOP's hierarchical offsets)."""
    for p in pics:
        if (params.intra or p.slice_type == "I") and p.qp != params.qp:
            raise VcmError(f"picture {p.poc} was coded at QP {p.qp}, not the {params.qp} asked for",
                           path=log_path, fix="check the encoder's QP options (IntraQPOffset, QPA)")


class Y4MOutputDecoder(Decoder):
    """A decoder program that writes Y4M (vvdecapp, VTM DecoderApp): run it, read the frames back."""

    def decode_command(self, bitstream: Path, out_y4m: Path) -> list[str]:
        raise NotImplementedError

    def decode(self, bitstream: Path) -> list[YuvFrame]:
        from vcm.media import read_y4m

        with tempfile.TemporaryDirectory(prefix="vcm-dec-") as tmp:
            out = Path(tmp) / "out.y4m"
            run_logged(self.decode_command(Path(bitstream), out), Path(tmp) / "decode.log", f"{self.name} decoder")
            frames, _ = read_y4m(out)
        for f in frames:
            f.display = None
        return frames
