"""The uvg266 VVC encoder (github.com/ultravideo/uvg266, BSD-3-Clause): the one open VVC encoder with a
per-CTU delta-QP map (`--roi`), which `ctu` mode (vcm.coding.ctu) uses to give objects their own QP in ONE
standard bitstream.

Not installable from a package registry; used when found as $VCM_UVG266 or on PATH (`tools/build_uvg266.py`
builds it into ~/.cache/vcm/uvg266/{8,10}bit/bin/uvg266 and prints the path: `export VCM_UVG266=$(...)`). The internal bit depth is a
compile-time setting: a 10-bit build reads vcm's 10-bit frames as they are; an 8-bit build (upstream's default
and vcm's: fewer bytes at equal PSNR, faster; docs/UVG266.md) is given the same frames rounded to 8 bits, and
its logged PSNR is against those 8-bit frames.

Every encode checks the slice QP of every picture from the log (`POC n QP q ...`) and, with a delta-QP map,
that the per-CTU QPs uvg266 reports (its `--stats-file-prefix` qp table, appended to the log) are the ones asked.
"""
from __future__ import annotations

import functools
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vcm.codec.base import PRESETS, Capabilities, EncodeParams, Encoder, YuvClip
from vcm.codec.colour import frame_to_bytes
from vcm.codec.encoder_log import PictureLog
from vcm.codec.external import ExternalProgram, check_params, check_slice_qps, logged_result, run_logged
from vcm.errors import VcmError
from vcm.fsutil import atomic_path
from vcm.types import EncodeResult

CTU = 64  # uvg266's CTU (LCU) size, fixed at compile time
ROI_OPTION = "--vcm-roi="  # an EncodeParams.extra item carrying the delta-QP maps (so they key the cache)
STATS_MARK = "# vcm: uvg266 per-CTU QP table (--stats-file-prefix qp.txt)"
UVG_PRESETS = ("ultrafast", "superfast", "veryfast", *PRESETS, "veryslow", "placebo")

_POC = re.compile(r"POC\s+(?P<poc>\d+)\s+QP\s+(?P<qp>-?\d+)\s+AVG QP\s+[-\d.]+\s+\((?P<t>[IPB])-frame\)\s+"
                  r"(?P<bits>\d+)\s+bits(?:\s+PSNR Y\s+(?P<y>[-\d.infa]+)\s+U\s+(?P<u>[-\d.infa]+)\s+V\s+(?P<v>[-\d.infa]+))?")


def qp_delta_range(bit_depth: int) -> tuple[int, int]:
    """The CU delta-QP range uvg266 asserts (HEVC's): [-26, 25] at 8 bits, [-32, 31] at 10 bits."""
    return -(26 + 3 * (bit_depth - 8)), 25 + 3 * (bit_depth - 8)


def parse_log(text: str) -> list[PictureLog]:
    """uvg266's per-picture lines, sorted by POC:
    `POC    0 QP 37 AVG QP 37.0 (I-frame)     483856 bits PSNR Y 30.3339 U 37.6060 V 38.4320`."""
    out = {}
    for m in _POC.finditer(text):
        f = [float(m[k]) if m[k] else float("nan") for k in ("y", "u", "v")]
        out[int(m["poc"])] = PictureLog(int(m["poc"]), "", m["t"], int(m["qp"]), int(m["bits"]), *f)
    return [out[k] for k in sorted(out)]


def parse_ctu_qps(text: str) -> list[np.ndarray]:
    """The per-CTU QP tables appended to an encode log (one (rows, cols) int array per frame, POC order)."""
    if STATS_MARK not in text:
        return []
    lines = text.split(STATS_MARK, 1)[1].strip().splitlines()
    frames: dict[int, np.ndarray] = {}
    i = 0
    while i < len(lines):
        head = lines[i].split()
        if len(head) != 3:
            i += 1
            continue
        poc, w, h = (int(v) for v in head)
        rows = [[int(v) for v in lines[i + 1 + r].split()] for r in range(h)]
        frames[poc] = np.array(rows, dtype=np.int16).reshape(h, w)
        i += 1 + h
    return [frames[k] for k in sorted(frames)]


def roi_extra(maps: Sequence[np.ndarray]) -> str:
    """Delta-QP maps (one per frame, or one for every frame) as an EncodeParams.extra item."""
    parts = []
    for m in maps:
        m = np.asarray(m, dtype=np.int64)
        parts.append(f"{m.shape[1]}x{m.shape[0]}:" + ",".join(str(int(v)) for v in m.ravel()))
    return ROI_OPTION + ";".join(parts)


def parse_roi_extra(item: str) -> list[np.ndarray]:
    maps = []
    for part in item[len(ROI_OPTION):].split(";"):
        size, values = part.split(":")
        w, h = (int(v) for v in size.split("x"))
        maps.append(np.array([int(v) for v in values.split(",")], dtype=np.int64).reshape(h, w))
    return maps


def roi_text(maps: Sequence[np.ndarray]) -> str:
    """uvg266's text ROI format: per frame `width height` then width*height deltas in raster order."""
    return "".join(f"{m.shape[1]} {m.shape[0]}\n" + "\n".join(" ".join(str(int(v)) for v in row) for row in m) + "\n"
                   for m in maps)


@functools.lru_cache(maxsize=None)
def build_bit_depth(exe: str) -> int:
    """The internal bit depth a uvg266 binary was compiled with (10 if it accepts 10-bit input, else 8)."""
    try:
        r = subprocess.run([exe, "--input-bitdepth", "10", "--version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 8
    return 10 if r.returncode == 0 else 8


def default_build_paths() -> list[Path]:
    """Where tools/build_uvg266.py puts its builds (8-bit first: vcm's default build). Not used by the backend
    by itself (only $VCM_UVG266 and PATH are: ctu mode then joins `--mode auto` only where the user set it up);
    `vcm doctor` reports them."""
    from vcm.codec.builds import cache_root

    return [cache_root("uvg266") / p for p in UVG266Encoder.builds[1:]]


@dataclass(frozen=True)
class InputFormat:
    bit_depth: int

    def frame_bytes(self, frame) -> bytes:
        if self.bit_depth == 10:
            return frame_to_bytes(frame)
        # 8-bit builds read 8-bit samples: vcm's 10-bit frames rounded (the one colour conversion, then >> 2)
        return b"".join(np.ascontiguousarray(np.minimum((p.astype(np.uint32) + 2) >> 2, 255), dtype=np.uint8).tobytes()
                        for p in (frame.y, frame.u, frame.v))


class UVG266Encoder(ExternalProgram, Encoder):
    name = "uvg266"
    programs = ("uvg266",)
    env_var = "VCM_UVG266"
    builds = ("uvg266", "8bit/bin/uvg266", "10bit/bin/uvg266")
    uses_builds = False  # docs/UVG266.md: $VCM_UVG266 or PATH; `vcm doctor` names a build it finds
    fallback = "--encoder ffmpeg (or build it: export VCM_UVG266=$(python tools/build_uvg266.py))"
    capabilities = Capabilities(presets=UVG_PRESETS, max_qp=51)

    @property
    def bit_depth(self) -> int:
        return build_bit_depth(self.require_exe())

    def ctu_map_limits(self) -> tuple[int, int, int]:
        """(QP span, highest QP, CTU size) a CTU QP map may use (vcm.coding.ctu): the delta range, 51, 64."""
        lo, hi = qp_delta_range(self.bit_depth)
        return min(hi, -lo), 51, CTU

    def version(self) -> str:
        # the bit depth changes the bitstream, so it is part of the version (and of the encode cache key)
        return f"{super().version()} {self.bit_depth}-bit" if self.exe else super().version()

    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        exe = self.require_exe()
        cmd = [exe, "-i", str(yuv_path), "--input-res", f"{clip.width}x{clip.height}",
               "--input-bitdepth", str(self.bit_depth), "--input-fps", f"{clip.fps:g}", "-n", str(len(clip.frames)),
               "--preset", params.preset, "-q", str(params.qp), "-p", "1" if params.intra else str(params.intra_period),
               "--intra-qp-offset", "0", "--no-info"]  # no encoder-info SEI: its ~160 bytes carry no picture
        if not params.intra and params.intra_period % 8:  # uvg266's default B-GOP of 8 needs a multiple of 8
            cmd += ["--gop", "lp-g4d3t1" if params.intra_period % 4 == 0 else "0"]
        if params.threads:
            cmd += ["--threads", str(params.threads)]
        extra = [e for e in params.extra if not e.startswith(ROI_OPTION)]
        if len(extra) != len(params.extra):
            cmd += ["--roi", str(yuv_path.with_name("roi.txt")),
                    "--stats-file-prefix", str(yuv_path.with_name("stats_"))]
        return cmd + extra + ["-o", str(out)]

    def encode(self, clip: YuvClip, params: EncodeParams, out: Path) -> EncodeResult:
        check_params(self, params)
        if params.qpa:
            raise VcmError("uvg266 has no perceptual QPA (QP means the QP in the bitstream)", fix="drop --qpa")
        rois = [parse_roi_extra(e) for e in params.extra if e.startswith(ROI_OPTION)]
        if rois and len(rois[-1]) > 1 and not params.intra:
            # uvg266 reads one map per picture in CODING order (measured: POC 0, 8, 4, 2, 1, ... with GOP 8)
            raise VcmError("per-picture delta-QP maps need all-intra coding with uvg266",
                           fix="give one map for the whole sequence, or code all-intra")
        out = Path(out)
        log_path = out.with_name(out.name + ".log")
        fmt = InputFormat(self.bit_depth)
        with tempfile.TemporaryDirectory(prefix="vcm-enc-") as tmp:
            yuv = Path(tmp) / "input.yuv"
            with open(yuv, "wb") as f:
                for fr in clip.frames:
                    f.write(fmt.frame_bytes(fr))
            if rois:
                yuv.with_name("roi.txt").write_text(roi_text(rois[-1]))
            with atomic_path(out) as tmp_out:
                cmd = self.command(yuv, clip, params, tmp_out)
                t0 = time.perf_counter()
                text = run_logged(cmd, log_path, f"{self.name} encoder")
                seconds = time.perf_counter() - t0
                if not tmp_out.exists() or tmp_out.stat().st_size == 0:
                    raise VcmError(f"{self.name} encoder wrote no bitstream", path=log_path, fix="see the log")
                nbytes = tmp_out.stat().st_size
            stats = yuv.with_name("stats_qp.txt")
            if rois and stats.exists():  # keep the per-CTU QPs with the log (the encode cache keeps the log)
                text += f"\n{STATS_MARK}\n{stats.read_text()}"
                log_path.write_text(text)
        pics = parse_log(text)
        if len(pics) != len(clip.frames):
            raise VcmError(f"{self.name} encoder logged {len(pics)} pictures, expected {len(clip.frames)}",
                           path=log_path, fix="see the log")
        check_slice_qps(pics, params, log_path)
        if rois:
            check_ctu_qps(parse_ctu_qps(text), rois[-1], pics, log_path)
        return logged_result(self, out, nbytes, clip, params, pics, cmd, log_path, seconds, bit_depth=fmt.bit_depth)


def check_ctu_qps(got: list[np.ndarray], maps: list[np.ndarray], pics: list[PictureLog], log_path: Path) -> None:
    """Every CTU of every picture carries its picture's slice QP + its delta (uvg266 clips to 0..51)."""
    if len(got) != len(pics):
        raise VcmError(f"uvg266 reported per-CTU QPs for {len(got)} of {len(pics)} pictures", path=log_path,
                       fix="see the log")
    for i, (g, pic) in enumerate(zip(got, pics)):
        want = np.clip(pic.qp + maps[i % len(maps)], 0, 51)
        if g.shape != want.shape:
            raise VcmError(f"uvg266 coded a {g.shape[1]}x{g.shape[0]} CTU grid, the QP map is "
                           f"{want.shape[1]}x{want.shape[0]}", path=log_path, fix="see the log")
        if not np.array_equal(g, want):
            bad = np.argwhere(g != want)[0]
            raise VcmError(f"picture {i} CTU (col {bad[1]}, row {bad[0]}) was coded at QP {g[tuple(bad)]}, not "
                           f"{want[tuple(bad)]}", path=log_path, fix="check the --roi map and uvg266's options")
