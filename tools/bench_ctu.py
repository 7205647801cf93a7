"""ctu-mode benchmark (issue 17): bytes and encode time of `ctu` mode (one uvg266 bitstream with per-CTU QPs)
against plain uvg266 at the plan's lowest object QP, plain libvvenc at that QP, and `objects` mode (libvvenc
streams), on real pictures; the bytes the delta-QP signalling itself costs; and the 8- vs 10-bit build choice.

    python tools/bench_ctu.py                      # Markdown tables for docs/UVG266.md
    python tools/bench_ctu.py --jrd fixed:32 --preset medium
    python tools/bench_ctu.py --skip-bitdepth

Objects come from the `hog-person` detector (offline, no weights) with the given JRD predictor; the QP policy is
vcm's default (background QP 51, margin 48). Needs uvg266 builds: run tools/build_uvg266.py (both bit depths
for the bit-depth table: --bit-depth 8 and 10).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pictures() -> list[tuple[str, "object"]]:
    """Real pictures with people (ultralytics' assets, AGPL-3.0; scikit-image's astronaut, CC0)."""
    from skimage import data

    from tests.conftest import _ultralytics_asset
    from vcm.codec import read_picture

    return [("bus.jpg", read_picture(_ultralytics_asset("bus.jpg"))),
            ("zidane.jpg", read_picture(_ultralytics_asset("zidane.jpg"))),
            ("astronaut", data.astronaut())]


def _timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


def roi_overhead(frame, qp: int, params, encoder) -> tuple[int, int]:
    """Bytes of one picture at a flat QP without a delta-QP map, and with an all-zero map (same QPs, but
    cu_qp_delta signalling on): the difference is what the map itself costs in the bitstream."""
    import numpy as np

    from vcm.coding.ctu import CTUMap, encode_ctu
    from vcm.coding.modes import encode_frame

    plain = encode_frame(frame, qp, params, encoder, "bt709", cache=False)
    rows, cols = -(-frame.height // 64), -(-frame.width // 64)
    z = np.full((rows, cols), qp, np.int16)
    zero = encode_ctu([frame], [CTUMap(z, z, qp, 31)], params, encoder, cache=False)
    return plain.bytes, zero.bytes


def bench_modes(args) -> list[str]:
    from vcm.codec import EncodeParams, picture_to_clip
    from vcm.codec.uvg266 import UVG266Encoder
    from vcm.coding.modes import code_picture_mode, encode_frame
    from vcm.detect import create_detector
    from vcm.jrd import create_predictor
    from vcm.qp import plan

    det = create_detector("hog-person")
    pred = create_predictor(args.jrd)
    uvg = UVG266Encoder()
    params = EncodeParams(qp=51, preset=args.preset, threads=args.threads)
    lines = [f"| picture | objects | QPs (min..bg) | ctu bytes | ctu s | uvg266 flat bytes | libvvenc flat bytes | "
             f"objects bytes | objects s | ctu / libvvenc flat | map overhead |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, rgb in pictures():
        frame = picture_to_clip(rgb).frames[0]
        dets = det.detect_one(rgb)
        objs = pred.predict(rgb, dets)
        p = plan(objs, frame.width, frame.height, bg_qp=args.bg_qp)
        if not p.regions:
            lines.append(f"| {name} | 0 | - | (no objects detected) |")
            continue
        ctu, t_ctu = _timed(code_picture_mode, "ctu", frame, p, params, encoder=uvg, cache=False)
        obj, t_obj = _timed(code_picture_mode, "objects", frame, p, params, encoder="ffmpeg", cache=False)
        flat_u = encode_frame(frame, p.min_qp, params, uvg, "bt709", cache=False)
        flat_v = encode_frame(frame, p.min_qp, params, "ffmpeg", "bt709", cache=False)
        b0, b1 = roi_overhead(frame, p.min_qp, params, uvg)
        info = ctu.settings["ctu"]
        clamp = f" (clamped to {info['max_qp']})" if info["clamped"] else ""
        lines.append(f"| {name} {frame.width}x{frame.height} | {len(p.regions)} | {p.min_qp}..{p.bg_qp}{clamp} | "
                     f"{ctu.stream_bytes:,} | {t_ctu:.2f} | {flat_u.bytes:,} | {flat_v.bytes:,} | "
                     f"{obj.stream_bytes:,} | {t_obj:.2f} | {ctu.stream_bytes / flat_v.bytes:.2f} | "
                     f"{b1 - b0:+,} B ({100 * (b1 - b0) / b0:+.2f} %) |")
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def bench_bit_depth(args) -> list[str]:
    """Plain encodes of bus.jpg with the 8- and 10-bit builds: bytes, Y-PSNR against vcm's 10-bit original
    (after decoding, so both are measured alike), encode time; and ctu mode's bytes with each build's span."""
    from vcm.codec import EncodeParams, decode, picture_to_clip
    from vcm.codec.colour import psnr
    from vcm.codec.uvg266 import UVG266Encoder, default_build_paths
    from vcm.coding.modes import code_picture_mode, encode_frame
    from vcm.qp import QPPlan, QPRegion

    builds = {UVG266Encoder(str(p)).bit_depth: UVG266Encoder(str(p)) for p in default_build_paths() if p.exists()}
    if set(builds) != {8, 10}:
        return [f"(bit-depth table skipped: builds found for {sorted(builds)} bits only)"]
    rgb = dict(pictures())["bus.jpg"]
    frame = picture_to_clip(rgb).frames[0]
    params = EncodeParams(qp=37, preset=args.preset, threads=args.threads)
    lines = ["| build | QP | bytes | Y-PSNR dB (vs 10-bit original) | encode s |", "|---|---|---|---|---|"]
    for qp in (27, 32, 37, 42, 47):
        for bd, enc in sorted(builds.items()):
            best = None
            for _ in range(args.runs):
                res, t = _timed(encode_frame, frame, qp, params, enc, "bt709", cache=False)
                best = t if best is None else min(best, t)
            y = psnr(decode(res.bitstream)[0].y, frame.y)
            lines.append(f"| {bd}-bit | {qp} | {res.bytes:,} | {y:.2f} | {best:.2f} |")
    # the span: people at QP 20, background 51 (a span of 31: fits 10-bit, 8-bit lowers the background to 45)
    boxes = [(50, 400, 250, 905), (220, 405, 345, 860), (665, 365, 810, 880), (0, 550, 80, 875)]
    from vcm.qp import crop_rect

    p = QPPlan(frame.width, frame.height, 51,
               tuple(QPRegion(i, crop_rect(b, frame.width, frame.height, 48), 20, 20) for i, b in enumerate(boxes)))
    lines += ["", "| build | ctu mode, people QP 20, background 51 | bytes | CTU QPs |", "|---|---|---|---|"]
    for bd, enc in sorted(builds.items()):
        c = code_picture_mode("ctu", frame, p, replace(params), encoder=enc, cache=False)
        info = c.settings["ctu"]
        lines.append(f"| {bd}-bit | span {info['span']} | {c.stream_bytes:,} | {info['base_qp']}..{info['max_qp']}"
                     f"{' (clamped)' if info['clamped'] else ''} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jrd", default="prior", help="JRD predictor spec (default prior; e.g. fixed:32, search)")
    ap.add_argument("--bg-qp", type=int, default=51)
    ap.add_argument("--preset", default="faster")
    ap.add_argument("--threads", type=int, default=0, help="encoder threads (0: each encoder's default)")
    ap.add_argument("--runs", type=int, default=2, help="timing runs per bit-depth point (best kept)")
    ap.add_argument("--skip-bitdepth", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"preset {args.preset}, JRD {args.jrd}, background QP {args.bg_qp}; times are wall seconds.\n")
    print("\n".join(bench_modes(args)))
    if not args.skip_bitdepth:
        print()
        print("\n".join(bench_bit_depth(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
