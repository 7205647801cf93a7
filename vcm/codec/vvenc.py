"""External VVenC programs: `vvencFFapp` (full options, preferred) or `vvencapp`, and `vvdecapp`.

Not installable from this project's package registries; used when found on PATH or named by
$VCM_VVENC / $VCM_VVDEC. The cfg files in vvc_configs/vvenc/ document the settings used.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from vcm.codec.base import Capabilities, EncodeParams, YuvClip
from vcm.codec.external import ExternalEncoder, Y4MOutputDecoder, which
from vcm.errors import VcmError


def _version(exe: str | None) -> str:
    if not exe:
        return ""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


class VVenCEncoder(ExternalEncoder):
    name = "vvenc"
    capabilities = Capabilities(presets=("faster", "fast", "medium", "slow", "slower"))

    def __init__(self, exe: str | None = None):
        self.exe = exe or os.environ.get("VCM_VVENC") or which("vvencFFapp", "vvencapp")

    def available(self) -> bool:
        return bool(self.exe)

    def version(self) -> str:
        return f"{Path(self.exe).name if self.exe else 'vvenc'} {_version(self.exe)}"

    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        if not self.exe:
            raise VcmError("vvenc encoder not found (vvencFFapp or vvencapp)",
                           fix="put it on PATH, set VCM_VVENC, or use --encoder ffmpeg")
        intra_period = 1 if params.intra else params.intra_period
        if Path(self.exe).name.startswith("vvencFFapp"):
            cmd = [self.exe, "-i", str(yuv_path), "-s", f"{clip.width}x{clip.height}", "--InputBitDepth=10",
                   "--InternalBitDepth=10", "--InputChromaFormat=420", f"-fr={clip.fps:g}",
                   f"-f={len(clip.frames)}", f"--preset={params.preset}", f"-q={params.qp}",
                   f"--PerceptQPA={1 if params.qpa else 0}", f"--IntraPeriod={intra_period}",
                   "--IntraQPOffset=0", "--MCTF=0", "--BIM=0", "--Verbosity=6"]
            if params.threads:
                cmd.append(f"--Threads={params.threads}")
            return cmd + [*params.extra, "-b", str(out)]
        # vvencapp: the simple front end; IntraQPOffset is reachable only through its --internal-... options
        cmd = [self.exe, "-i", str(yuv_path), "-s", f"{clip.width}x{clip.height}", "-c", "yuv420_10",
               "-r", f"{clip.fps:g}", "-f", str(len(clip.frames)), "--preset", params.preset,
               "-q", str(params.qp), "--qpa", "1" if params.qpa else "0", "--intraperiod", str(intra_period),
               "--verbosity", "6", "--sdr"]
        if params.threads:
            cmd += ["-t", str(params.threads)]
        return cmd + [*params.extra, "-o", str(out)]


class VVdeCDecoder(Y4MOutputDecoder):
    name = "vvdec"

    def __init__(self, exe: str | None = None):
        self.exe = exe or os.environ.get("VCM_VVDEC") or which("vvdecapp")

    def available(self) -> bool:
        return bool(self.exe)

    def version(self) -> str:
        return f"vvdecapp {_version(self.exe)}"

    def decode_command(self, bitstream: Path, out_y4m: Path) -> list[str]:
        if not self.exe:
            raise VcmError("vvdecapp not found", fix="put it on PATH, set VCM_VVDEC, or use --decoder pyav")
        return [self.exe, "-b", str(bitstream), "-o", str(out_y4m), "--y4m", "-t", "1"]
