"""External VVenC programs: `vvencFFapp` (full options, preferred) or `vvencapp`, and `vvdecapp`.

Not installable from this project's package registries; used when found on PATH or named by
$VCM_VVENC / $VCM_VVDEC. The cfg files in vcm/vvc_configs/vvenc/ document the settings used.
"""
from __future__ import annotations

from pathlib import Path

from vcm.codec.base import RA_MIN_SIDES, Capabilities, EncodeParams, YuvClip
from vcm.codec.external import ExternalEncoder, ExternalProgram, Y4MOutputDecoder


class VVenCEncoder(ExternalProgram, ExternalEncoder):
    name = "vvenc"
    programs = ("vvencFFapp", "vvencapp")
    env_var = "VCM_VVENC"
    fallback = "--encoder ffmpeg"
    capabilities = Capabilities(presets=("faster", "fast", "medium", "slow", "slower"), ra_min_sides=RA_MIN_SIDES)

    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        exe = self.require_exe()
        intra_period = 1 if params.intra else params.intra_period
        if Path(exe).name.startswith("vvencFFapp"):
            cmd = [exe, "-i", str(yuv_path), "-s", f"{clip.width}x{clip.height}", "--InputBitDepth=10",
                   "--InternalBitDepth=10", "--InputChromaFormat=420", f"-fr={clip.fps:g}",
                   f"-f={len(clip.frames)}", f"--preset={params.preset}", f"-q={params.qp}",
                   f"--PerceptQPA={1 if params.qpa else 0}", f"--IntraPeriod={intra_period}",
                   "--IntraQPOffset=0", "--MCTF=0", "--BIM=0", "--Verbosity=6"]
            if params.threads:
                cmd.append(f"--Threads={params.threads}")
            return cmd + [*params.extra, "-b", str(out)]
        # vvencapp: the simple front end; IntraQPOffset is reachable only through its --internal-... options
        cmd = [exe, "-i", str(yuv_path), "-s", f"{clip.width}x{clip.height}", "-c", "yuv420_10",
               "-r", f"{clip.fps:g}", "-f", str(len(clip.frames)), "--preset", params.preset,
               "-q", str(params.qp), "--qpa", "1" if params.qpa else "0", "--intraperiod", str(intra_period),
               "--verbosity", "6", "--sdr"]
        if params.threads:
            cmd += ["-t", str(params.threads)]
        return cmd + [*params.extra, "-o", str(out)]


class VVdeCDecoder(ExternalProgram, Y4MOutputDecoder):
    name = "vvdec"
    programs = ("vvdecapp",)
    env_var = "VCM_VVDEC"
    fallback = "--decoder pyav"

    def decode_command(self, bitstream: Path, out_y4m: Path) -> list[str]:
        return [self.require_exe(), "-b", str(bitstream), "-o", str(out_y4m), "--y4m", "-t", "1"]
