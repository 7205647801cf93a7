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
from pathlib import Path

import numpy as np

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
    from vcm.codec import EncodeParams, decode, picture_to_clip
    from vcm.codec.uvg266 import UVG266Encoder
    from vcm.coding.modes import code_picture_mode, encode_frame, reconstruct
    from vcm.detect import create_detector
    from vcm.jrd import create_predictor
    from vcm.qp import plan

    det = create_detector("hog-person")
    pred = create_predictor(args.jrd)
    uvg = UVG266Encoder()
    params = EncodeParams(qp=51, preset=args.preset, threads=args.threads)
    lines = ["| picture | objects | QPs (min..bg) | ctu bytes | ctu s | uvg266 flat bytes | libvvenc flat bytes | "
             "objects bytes | objects s | ctu / libvvenc flat | object-area Y-PSNR ctu / objects / libvvenc flat | "
             "map overhead |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
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
        inside = p.qp_map() < p.bg_qp  # the objects' coded rectangles

        def area_psnr(rec) -> float:
            err = (rec.y.astype(np.float64) - frame.y.astype(np.float64))[inside] ** 2
            return 10 * np.log10(1020.0 ** 2 / err.mean())

        ps = [area_psnr(reconstruct(ctu)), area_psnr(reconstruct(obj)), area_psnr(decode(flat_v.bitstream)[0])]
        lines.append(f"| {name} {frame.width}x{frame.height} | {len(p.regions)} | {p.min_qp}..{p.bg_qp}{clamp} | "
                     f"{ctu.stream_bytes:,} | {t_ctu:.2f} | {flat_u.bytes:,} | {flat_v.bytes:,} | "
                     f"{obj.stream_bytes:,} | {t_obj:.2f} | {ctu.stream_bytes / flat_v.bytes:.2f} | "
                     f"{' / '.join(f'{v:.2f}' for v in ps)} | "
                     f"{b1 - b0:+,} B ({100 * (b1 - b0) / b0:+.2f} %) |")
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def bench_bit_depth(args) -> list[str]:
    """Plain encodes with the 8- and 10-bit builds on each picture: bytes, Y-PSNR against vcm's 10-bit original
    (after decoding, so both builds are measured alike), encode time (best of --runs), BD-rate of 10-bit against
    8-bit; then ctu mode on bus.jpg with a plan inside 8-bit's span and one beyond it."""
    from bjontegaard import bd_rate

    from vcm.codec import EncodeParams, decode, picture_to_clip
    from vcm.codec.colour import psnr
    from vcm.codec.uvg266 import UVG266Encoder, default_build_paths
    from vcm.coding.modes import code_picture_mode, encode_frame
    from vcm.qp import QPPlan, QPRegion, crop_rect

    builds = {UVG266Encoder(str(p)).bit_depth: UVG266Encoder(str(p)) for p in default_build_paths() if p.exists()}
    if set(builds) != {8, 10}:
        return [f"(bit-depth table skipped: builds found for {sorted(builds)} bits only)"]
    params = EncodeParams(qp=37, preset=args.preset, threads=args.threads)
    qps = (27, 32, 37, 42, 47)
    lines = ["| picture | build | bytes at QP " + " / ".join(map(str, qps)) + " | Y-PSNR dB | encode s (sum) | "
             "BD-rate 10 vs 8-bit |", "|---|---|---|---|---|---|"]
    pics = pictures()
    for name, rgb in pics:
        frame = picture_to_clip(rgb).frames[0]
        curves = {}
        for bd, enc in sorted(builds.items()):
            rates, dists, secs = [], [], 0.0
            for qp in qps:
                best = None
                for _ in range(args.runs):
                    res, t = _timed(encode_frame, frame, qp, params, enc, "bt709", cache=False)
                    best = t if best is None else min(best, t)
                secs += best
                rates.append(res.bytes)
                dists.append(psnr(decode(res.bitstream)[0].y, frame.y))
            curves[bd] = (rates, dists, secs)
        bd = bd_rate(curves[8][0], curves[8][1], curves[10][0], curves[10][1], method="pchip")
        for k in (8, 10):
            r, d, t = curves[k]
            lines.append(f"| {name} | {k}-bit | {' / '.join(f'{v:,}' for v in r)} | "
                         f"{' / '.join(f'{v:.2f}' for v in d)} | {t:.2f} | {f'{bd:+.1f} %' if k == 10 else ''} |")
        print(lines[-1], file=sys.stderr, flush=True)
    rgb = dict(pics)["bus.jpg"]
    frame = picture_to_clip(rgb).frames[0]
    boxes = [(50, 400, 250, 905), (220, 405, 345, 860), (665, 365, 810, 880), (0, 550, 80, 875)]
    lines += ["", "| bus.jpg ctu mode (4 people, background 51) | build | bytes | CTU QPs | Y-PSNR people / rest dB |",
              "|---|---|---|---|---|"]
    for people_qp in (37, 20):
        p = QPPlan(frame.width, frame.height, 51, tuple(
            QPRegion(i, crop_rect(b, frame.width, frame.height, 48), people_qp, people_qp) for i, b in enumerate(boxes)))
        for bd, enc in sorted(builds.items()):
            c = code_picture_mode("ctu", frame, p, params, encoder=enc, cache=False)
            info = c.settings["ctu"]
            rec = decode(c.streams[0].result.bitstream)[0]
            inside = p.qp_map() < 51
            err = (rec.y.astype(float) - frame.y.astype(float)) ** 2
            pin, pout = (10 * np.log10(1020.0 ** 2 / err[m].mean()) for m in (inside, ~inside))
            lines.append(f"| people QP {people_qp} | {bd}-bit (span {info['span']}) | {c.stream_bytes:,} | "
                         f"{info['base_qp']}..{info['max_qp']}{' (clamped)' if info['clamped'] else ''} | "
                         f"{pin:.2f} / {pout:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jrd", default="prior", help="JRD predictor spec (default prior; e.g. fixed:32, search)")
    ap.add_argument("--bg-qp", type=int, default=51)
    ap.add_argument("--preset", default="faster")
    ap.add_argument("--threads", type=int, default=0, help="encoder threads (0: each encoder's default)")
    ap.add_argument("--runs", type=int, default=2, help="timing runs per bit-depth point (best kept)")
    ap.add_argument("--skip-bitdepth", action="store_true")
    ap.add_argument("--skip-modes", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"preset {args.preset}, JRD {args.jrd}, background QP {args.bg_qp}; times are wall seconds.\n")
    if not args.skip_modes:
        print("\n".join(bench_modes(args)))
    if not args.skip_bitdepth:
        print()
        print("\n".join(bench_bit_depth(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
