"""The VVC reference software VTM: `EncoderApp` / `DecoderApp`, with the cfg files in vvc_configs/vtm/.

Not installable from this project's package registries; used when found on PATH or named by
$VCM_VTM_ENCODER / $VCM_VTM_DECODER. VTM is slow (minutes per 1080p picture) but is the reference.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from vcm.codec.base import Capabilities, EncodeParams, YuvClip
from vcm.codec.external import ExternalEncoder, Y4MOutputDecoder, which
from vcm.errors import VcmError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "vvc_configs" / "vtm"


def config_path(intra: bool) -> Path:
    """The VTM cfg for all-intra or random access (shipped in vvc_configs/vtm/)."""
    name = "encoder_intra_vtm.cfg" if intra else "encoder_randomaccess_vtm.cfg"
    env = os.environ.get("VCM_VVC_CONFIGS")
    return (Path(env) / "vtm" / name) if env else CONFIG_DIR / name


def _version(exe: str | None) -> str:
    if not exe:
        return ""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(r"VTM[^\d]*(\d+\.\d+(?:\.\d+)?)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


class VTMEncoder(ExternalEncoder):
    name = "vtm"
    capabilities = Capabilities(presets=("faster", "fast", "medium", "slow", "slower"))  # VTM has no presets

    def __init__(self, exe: str | None = None):
        self.exe = exe or os.environ.get("VCM_VTM_ENCODER") or which("EncoderApp")

    def available(self) -> bool:
        return bool(self.exe)

    def version(self) -> str:
        return f"VTM EncoderApp {_version(self.exe)}"

    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        if not self.exe:
            raise VcmError("VTM EncoderApp not found", fix="put it on PATH, set VCM_VTM_ENCODER, or use --encoder ffmpeg")
        cmd = [self.exe, "-c", str(config_path(params.intra)), "-i", str(yuv_path),
               "-wdt", str(clip.width), "-hgt", str(clip.height), "-fr", str(round(clip.fps)),
               "-f", str(len(clip.frames)), "--InputBitDepth=10", "--InternalBitDepth=10",
               "--OutputBitDepth=10", "--InputChromaFormat=420", f"--QP={params.qp}",
               "--IntraQPOffset=0", "--TemporalFilter=0", f"--PerceptQPA={1 if params.qpa else 0}", "-b", str(out)]
        if not params.intra:
            cmd.append(f"--IntraPeriod={params.intra_period}")
        return cmd + list(params.extra)


class VTMDecoder(Y4MOutputDecoder):
    name = "vtm"

    def __init__(self, exe: str | None = None):
        self.exe = exe or os.environ.get("VCM_VTM_DECODER") or which("DecoderApp")

    def available(self) -> bool:
        return bool(self.exe)

    def version(self) -> str:
        return f"VTM DecoderApp {_version(self.exe)}"

    def decode_command(self, bitstream: Path, out_y4m: Path) -> list[str]:
        if not self.exe:
            raise VcmError("VTM DecoderApp not found", fix="put it on PATH, set VCM_VTM_DECODER, or use --decoder pyav")
        return [self.exe, "-b", str(bitstream), "-o", str(out_y4m), "-d", "10"]
