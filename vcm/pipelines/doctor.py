"""Find out what is usable here: encoders, decoders (with a real round trip), torch, detector weights and the
photo data sets, each missing part with the command or setting that adds it."""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vcm.codec import DECODERS, ENCODERS, EncodeParams, create_decoder, create_encoder, decode, encode, picture_to_clip
from vcm.errors import VcmError


def _round_trip(encoder_name: str, decoder_name: str) -> tuple[bool, str]:
    """Code a small synthetic picture and decode it: the only honest test that a backend works."""
    rng = np.random.default_rng(0)
    rgb = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    clip = picture_to_clip(rgb)
    try:
        with tempfile.TemporaryDirectory(prefix="vcm-doctor-") as tmp:
            res = encode(clip, EncodeParams(qp=32), out=Path(tmp) / "t.266", encoder=encoder_name, cache=False)
            frames = decode(res.bitstream, decoder_name)
    except VcmError as e:
        return False, str(e)[:120]
    return len(frames) == 1 and frames[0].width == 96, f"{res.bytes} bytes round trip"


def _torch_info() -> str:
    try:
        ver = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
    code = ("import torch;n=torch.cuda.device_count();"
            "print(n, ';'.join(torch.cuda.get_device_name(i) for i in range(n)))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             check=False).stdout.strip()
        n, _, names = out.partition(" ")
        return f"{ver}, CUDA devices: {n or '?'}{' (' + names + ')' if names else ''}"
    except (OSError, subprocess.TimeoutExpired):
        return f"{ver}, CUDA devices: unknown"


def _weight_rows() -> list[dict[str, Any]]:
    """One row per pinned weight set (verified, corrupt or missing, with the command that fixes it), then the
    detectors built in and any YOLO .pt files beside the user."""
    from vcm.weights import WEIGHT_SETS, is_present, is_verified, member_dest, weights_dir

    rows = []
    for ws in WEIGHT_SETS.values():
        where = member_dest(ws, ws.members[0][0]).parent
        if is_verified(ws):
            ok, detail = True, f"verified ({ws.source} {ws.spec}) in {where}"
        elif is_present(ws):
            ok, detail = False, f"corrupt (sha256 mismatch) in {where}: vcm weights fetch {ws.name} --force"
        else:
            ok, detail = False, f"missing from {weights_dir()}: vcm weights fetch {ws.name}"
        rows.append({"name": f"weights {ws.name}", "ok": ok, "detail": detail})
    dirs = [Path.cwd(), Path(os.environ.get("VCM_WEIGHTS_DIR", Path.cwd() / "weights"))]
    found = sorted({str(p) for d in dirs if d.is_dir() for p in d.glob("*.pt")})
    rows.append({"name": "detectors", "ok": True,
                 "detail": "nanodet (default), centernet (weights above); hog-person, haar-* (OpenCV, built in)"
                           + (f"; .pt: {', '.join(found)}" if found else "; no YOLO .pt files here")})
    return rows


def _missing(program: Any) -> str:
    """Why an external encoder or decoder is not used, and what makes it usable (the program's own fix line)."""
    return "not found on PATH" + (f": {program.missing_fix()}" if hasattr(program, "missing_fix") else "")


def _data_rows() -> list[dict[str, Any]]:
    """The photo data sets (`--bundled photos`, the DT-JRD dataset): installed as pinned, or the fetch command."""
    from vcm.datasets import DATA_SETS, data_dir, is_installed

    missing = [ds.name for ds in DATA_SETS.values() if not is_installed(ds)]
    if not missing:
        return [{"name": "data photos", "ok": True,
                 "detail": f"{', '.join(DATA_SETS)} installed as pinned in {data_dir()} (--bundled photos)"}]
    return [{"name": "data photos", "ok": False,
             "detail": f"{', '.join(missing)} missing from {data_dir()}: vcm weights fetch photos "
                       "(needed by --bundled photos and the DT-JRD dataset only)"}]


def _cache_row() -> dict[str, Any]:
    from vcm.codec.cache import cache_dir_problem, default_cache_dir

    why = cache_dir_problem()
    return {"name": "encode cache", "ok": why is None,
            "detail": why + " (set VCM_CACHE_DIR, or --no-cache)" if why else f"{default_cache_dir()} (writable)"}


@dataclass
class DoctorReport:
    """What `vcm doctor` found: one row (name, ok, detail) per backend and library, the encoders and decoders
    that really coded and decoded a test picture; `to_json()` is `vcm doctor --json`."""

    rows: list[dict[str, Any]]
    encoders: list[str]
    decoders: list[str]
    vvc_ok: bool  # at least one working encoder and one working decoder

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def format_doctor(report: DoctorReport) -> str:
    """What `vcm doctor` prints: one line per row, then whether VVC coding works here."""
    width = max(len(r["name"]) for r in report.rows)
    lines = [f"{'ok ' if r['ok'] else '-- '} {r['name']:<{width}}  {r['detail']}" for r in report.rows]
    lines.append(f"\nVVC encode+decode works: {'yes' if report.vvc_ok else 'NO'}")
    return "\n".join(lines)


def diagnose() -> DoctorReport:
    """Every encoder and decoder tried with a real round trip, torch's devices, the detector weights and the photo
    data sets."""
    rows = []
    from vcm.codec.ffmpeg import ffmpeg_exe, ffmpeg_info

    try:
        exe = ffmpeg_exe()
        info = ffmpeg_info(exe)
        rows.append({"name": "ffmpeg", "ok": info["libvvenc"] and info["vvc_decoder"],
                     "detail": f"{exe} version {info['version']}, libvvenc: {'yes' if info['libvvenc'] else 'no'}, "
                               f"vvc decoder: {'yes' if info['vvc_decoder'] else 'no'}"})
    except VcmError as e:
        rows.append({"name": "ffmpeg", "ok": False, "detail": str(e)})
    working_enc, working_dec = [], []
    for name in ENCODERS:
        enc = create_encoder(name, check=False)
        if not enc.available():
            rows.append({"name": f"encoder {name}", "ok": False, "detail": _missing(enc)})
            continue
        ok, detail = _round_trip(name, "pyav")
        exe = getattr(enc, "exe", None)
        rows.append({"name": f"encoder {name}", "ok": ok,
                     "detail": f"{enc.version()}{f' ({exe})' if exe else ''}: {detail}"})
        if ok:
            working_enc.append(name)
    for name in DECODERS:
        dec = create_decoder(name, check=False)
        if not dec.available():
            rows.append({"name": f"decoder {name}", "ok": False, "detail": _missing(dec)})
            continue
        ok, detail = _round_trip(working_enc[0], name) if working_enc else (False, "no working encoder to test with")
        rows.append({"name": f"decoder {name}", "ok": ok, "detail": f"{dec.version()}: {detail}"})
        if ok:
            working_dec.append(name)
    rows.append({"name": "torch", "ok": True, "detail": _torch_info()})
    rows += _weight_rows()
    rows += _data_rows()
    rows.append(_cache_row())
    return DoctorReport(rows, working_enc, working_dec, bool(working_enc and working_dec))
