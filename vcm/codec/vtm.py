"""The VVC reference software VTM: `EncoderApp` / `DecoderApp`, with VTM 23.13's common-test-condition cfg files
in vcm/vvc_configs/vtm/ (package data, found with importlib.resources).

No package registry ships VTM: `tools/build_vtm.py` (`make vtm`) builds it into ~/.cache/vcm/vtm/bin/, where
these backends find it; $VCM_VTM_ENCODER / $VCM_VTM_DECODER or EncoderApp/DecoderApp on PATH come first. VTM is
slow (seconds for a small picture, minutes for 1080p) but is the reference that published numbers use.

A CTU QP map (the same `--vcm-roi=` EncodeParams item as uvg266's, vcm.coding.ctu) needs vcm's patch of VTM
(`--CtuQpMapFile`, tools/build_vtm.py): every CTU is coded at the slice QP plus its delta, CTUs of 64 (or 128
when the map's grid is the 128 one), any QP 0..63 in one picture. Every encode checks the slice QPs from the log
(`POC 0 ... I-SLICE, QP 37 ...`) and, with a map, the QP of every CTU as written (`vcm-ctu-qp` lines);
`decoded_ctu_qps` reads the same from DecoderApp, from the bitstream.
"""
from __future__ import annotations

import os
import re
import tempfile
from importlib import resources
from pathlib import Path

from vcm.codec.base import Capabilities, EncodeParams, YuvClip
from vcm.codec.external import ExternalEncoder, ExternalProgram, Y4MOutputDecoder, run_logged
from vcm.errors import VcmError


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
MAX_QP = 63  # VTM codes QPs 0..63 at 10 bits; a CU delta QP wraps around the range, so one picture holds them all
MAP_CTUS = (64, 128)  # CTU sizes a map's grid may use: 64 (--CTUSize=64, vcm.coding.ctu's grid) or 128 (the cfgs')
MAP_NAME = "ctuqp.txt"
RA_GOP = 32  # the GOP of encoder_randomaccess_vtm.cfg: VTM needs IntraPeriod to be a multiple of it
CTU_QPS_ENV = "VCM_VTM_CTU_QPS"  # the patched DecoderApp logs every CTU's QP when this is set
_CTU_LINE = re.compile(r"vcm-ctu-qp POC (?P<poc>\d+) CTU (?P<ctu>\d+) QP (?P<qp>\S+)")


def map_ctu_size(maps, width: int, height: int) -> int:
    """The CTU size whose grid the maps have (64 first)."""
    shape = maps[0].shape
    for ctu in MAP_CTUS:
        if shape == (-(-height // ctu), -(-width // ctu)):
            return ctu
    raise VcmError(f"a {shape[1]}x{shape[0]} CTU QP map fits no CTU grid of a {width}x{height} picture",
                   fix="build the map with vcm.coding.ctu (CTUs of 64)")


def parse_ctu_qps(text: str) -> dict[int, dict[int, str]]:
    """The `vcm-ctu-qp POC p CTU a QP q` lines: {POC: {CTU address: "q" | "lo:hi" | "-"}}."""
    out: dict[int, dict[int, str]] = {}
    for m in _CTU_LINE.finditer(text):
        out.setdefault(int(m["poc"]), {})[int(m["ctu"])] = m["qp"]
    return out


def check_ctu_qps(got: dict[int, dict[int, str]], maps, slice_qps: dict[int, int], log_path: Path,
                  who: str = "VTM encoder") -> None:
    """Every CTU that carries a residual was coded at its picture's slice QP + its map delta (POC p: map p % n);
    a CTU without residual ('-') has no QP to check."""
    import numpy as np

    if set(got) != set(slice_qps):
        raise VcmError(f"{who} reported per-CTU QPs for {len(got)} of {len(slice_qps)} pictures", path=log_path,
                       fix="use a VTM built by tools/build_vtm.py (vcm's --CtuQpMapFile patch): make vtm")
    for poc, qp in sorted(slice_qps.items()):
        want = np.clip(qp + np.asarray(maps[poc % len(maps)]), 0, MAX_QP).ravel()
        ctus = got[poc]
        if len(ctus) != want.size:
            raise VcmError(f"{who}: picture {poc} has {len(ctus)} CTUs, the QP map {want.size}", path=log_path,
                           fix="see the log")
        for addr, q in sorted(ctus.items()):
            if q != "-" and q != str(int(want[addr])):
                raise VcmError(f"{who}: picture {poc} CTU {addr} was coded at QP {q}, not {int(want[addr])}",
                               path=log_path, fix="check the QP map and VTM's options")


class VTMEncoder(ExternalProgram, ExternalEncoder):
    name = "vtm"
    programs = ("EncoderApp",)
    env_var = "VCM_VTM_ENCODER"
    builds = ("vtm", "bin/EncoderApp")
    fallback = "--encoder ffmpeg (or build it: make vtm)"
    version_pattern = VTM_VERSION
    capabilities = Capabilities(presets=("faster", "fast", "medium", "slow", "slower"), max_qp=MAX_QP)  # no presets

    def ctu_map_limits(self) -> tuple[int, int, int]:
        """(QP span, highest QP, CTU size) a CTU QP map may use (vcm.coding.ctu): all of 0..63, CTUs of 64."""
        return MAX_QP, MAX_QP, MAP_CTUS[0]

    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        from vcm.codec.uvg266 import ROI_OPTION, parse_roi_extra

        if not params.intra and params.intra_period % RA_GOP:
            raise VcmError(f"VTM's random-access cfg (GOP {RA_GOP}) needs an intra period that is a multiple of "
                           f"{RA_GOP}, not {params.intra_period}", fix=f"use --intra-period {RA_GOP} (or 64, 96, ...)")
        cmd = [self.require_exe(), "-c", str(config_path(params.intra)), "-i", str(yuv_path),
               "-wdt", str(clip.width), "-hgt", str(clip.height), "-fr", str(round(clip.fps)),
               "-f", str(len(clip.frames)), "--InputBitDepth=10", "--InternalBitDepth=10",
               "--OutputBitDepth=10", "--InputChromaFormat=420", f"--QP={params.qp}",
               "--IntraQPOffset=0", "--TemporalFilter=0", f"--PerceptQPA={1 if params.qpa else 0}",
               "--TemporalSubsampleRatio=1", "--ReconFile=", "-b", str(out)]
        if not params.intra:
            cmd.append(f"--IntraPeriod={params.intra_period}")
        rois = [e for e in params.extra if e.startswith(ROI_OPTION)]
        if rois:
            ctu = map_ctu_size(parse_roi_extra(rois[-1]), clip.width, clip.height)
            cmd.append(f"--CtuQpMapFile={yuv_path.with_name(MAP_NAME)}")
            if ctu == 64:  # the cfgs' inter binary splits start at 128
                cmd += ["--CTUSize=64", "--MaxBTNonISlice=64"]
        return cmd + [e for e in params.extra if not e.startswith(ROI_OPTION)]

    def write_side_files(self, folder: Path, clip: YuvClip, params: EncodeParams) -> None:
        from vcm.codec.uvg266 import ROI_OPTION, parse_roi_extra, roi_text

        rois = [e for e in params.extra if e.startswith(ROI_OPTION)]
        if rois:
            if params.qpa:
                raise VcmError("a CTU QP map and perceptual QPA both set CTU QPs", fix="drop --qpa")
            (folder / MAP_NAME).write_text(roi_text(parse_roi_extra(rois[-1])))

    def check_log(self, text: str, pics, params: EncodeParams, log_path: Path) -> None:
        from vcm.codec.uvg266 import ROI_OPTION, parse_roi_extra

        rois = [e for e in params.extra if e.startswith(ROI_OPTION)]
        if rois:
            check_ctu_qps(parse_ctu_qps(text), parse_roi_extra(rois[-1]), {p.poc: p.qp for p in pics}, log_path)


class VTMDecoder(ExternalProgram, Y4MOutputDecoder):
    name = "vtm"
    programs = ("DecoderApp",)
    env_var = "VCM_VTM_DECODER"
    builds = ("vtm", "bin/DecoderApp")
    fallback = "--decoder pyav (or build it: make vtm)"
    version_pattern = VTM_VERSION

    def decode_command(self, bitstream: Path, out_y4m: Path) -> list[str]:
        return [self.require_exe(), "-b", str(bitstream), "-o", str(out_y4m), "-d", "10"]

    def decoded_ctu_qps(self, bitstream: Path) -> dict[int, dict[int, str]]:
        """Every CTU's QP as DecoderApp reads it from the bitstream (vcm's patch; parse_ctu_qps' form)."""
        with tempfile.TemporaryDirectory(prefix="vcm-dec-") as tmp:
            text = run_logged([self.require_exe(), "-b", str(bitstream)], Path(tmp) / "decode.log", "vtm decoder",
                              env={CTU_QPS_ENV: "1"})
        return parse_ctu_qps(text)
