"""The VVC reference software VTM: `EncoderApp` / `DecoderApp`, with the cfg files in vcm/vvc_configs/vtm/
(package data, found with importlib.resources).

Not installable from this project's package registries; used when found on PATH or named by
$VCM_VTM_ENCODER / $VCM_VTM_DECODER. VTM is slow (minutes per 1080p picture) but is the reference.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from vcm.codec.base import Capabilities, EncodeParams, YuvClip
from vcm.codec.external import ExternalEncoder, ExternalProgram, Y4MOutputDecoder


def configs_dir() -> Path:
    """The cfg folder shipped inside the installed package (package data `vcm/vvc_configs/`)."""
    return Path(str(resources.files("vcm") / "vvc_configs"))


CONFIG_DIR = configs_dir() / "vtm"


def config_path(intra: bool) -> Path:
    """The VTM cfg for all-intra or random access (shipped in the package: vcm/vvc_configs/vtm/)."""
    name = "encoder_intra_vtm.cfg" if intra else "encoder_randomaccess_vtm.cfg"
    env = os.environ.get("VCM_VVC_CONFIGS")
    return (Path(env) / "vtm" / name) if env else CONFIG_DIR / name


VTM_VERSION = r"VTM[^\d]*(\d+\.\d+(?:\.\d+)?)"


class VTMEncoder(ExternalProgram, ExternalEncoder):
    name = "vtm"
    programs = ("EncoderApp",)
    env_var = "VCM_VTM_ENCODER"
    fallback = "--encoder ffmpeg"
    version_pattern = VTM_VERSION
    capabilities = Capabilities(presets=("faster", "fast", "medium", "slow", "slower"))  # VTM has no presets

    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        cmd = [self.require_exe(), "-c", str(config_path(params.intra)), "-i", str(yuv_path),
               "-wdt", str(clip.width), "-hgt", str(clip.height), "-fr", str(round(clip.fps)),
               "-f", str(len(clip.frames)), "--InputBitDepth=10", "--InternalBitDepth=10",
               "--OutputBitDepth=10", "--InputChromaFormat=420", f"--QP={params.qp}",
               "--IntraQPOffset=0", "--TemporalFilter=0", f"--PerceptQPA={1 if params.qpa else 0}", "-b", str(out)]
        if not params.intra:
            cmd.append(f"--IntraPeriod={params.intra_period}")
        return cmd + list(params.extra)


class VTMDecoder(ExternalProgram, Y4MOutputDecoder):
    name = "vtm"
    programs = ("DecoderApp",)
    env_var = "VCM_VTM_DECODER"
    fallback = "--decoder pyav"
    version_pattern = VTM_VERSION

    def decode_command(self, bitstream: Path, out_y4m: Path) -> list[str]:
        return [self.require_exe(), "-b", str(bitstream), "-o", str(out_y4m), "-d", "10"]
