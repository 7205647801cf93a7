"""VTM against libvvenc (issue 25): the plain-VVC anchor coded by VTM (CTC all-intra cfg) against libvvenc preset
faster - BD-rate on Y-PSNR and on mAP@0.5, seconds per picture - and `ctu` mode with VTM (vcm's CTU QP map
patch) against `ctu` mode with uvg266 and `objects` mode: bytes at equal kept objects, seconds.

    python tools/bench_vtm.py --pictures 6 --size 256    # ~20-40 min on 2 loaded cores (VTM is the long pole)
    python tools/bench_vtm.py --pictures 4 --size 256 --skip-anchor

VTM is ~50x slower than libvvenc faster, so the bundled pictures (`vcm.bundled`, default set) are taken evenly
spread over the set among those where the detector keeps an object, and scaled down (INTER_AREA) to --size.
The anchor part runs `vcm benchmark --modes plain` once per encoder over those pictures (nanodet, pseudo ground
truth, QPs 22..47; the encode cache makes the PSNR pass free) and compares the two plain curves with vcm's
BD-rate rules. The ctu part codes each picture's plan (nanodet objects at the keep score, JRD `prior`, margin
48, background 51; VTM also at background 63, which uvg266 cannot code) at every --offsets JRD offset in each
mode, decodes it as `vcm decode` does, and keeps per mode the cheapest point at which every object is still
detected (vcm.metrics.match): bytes at equal kept objects. Needs VTM (`make vtm`) and uvg266 ($VCM_UVG266).
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


def machine() -> str:
    load = os.getloadavg()
    return (f"{platform.machine()}, {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f} (1/5/15 min) at the start")


def pick_pictures(n: int, size: int, out: Path, detector) -> list[Path]:
    """n bundled pictures spread over the default set that have at least one object the rule keeps, scaled so the
    longest side is `size`, written as PNG into `out`."""
    import cv2

    from vcm.bundled import bundled_pictures
    from vcm.media import read_picture
    from vcm.metrics.match import StillDetectedRule

    rule = StillDetectedRule.for_detector(detector)
    pics = bundled_pictures("default")
    out.mkdir(parents=True, exist_ok=True)
    chosen: list[Path] = []
    step = max(1, len(pics) // n)
    for start in range(step):
        for p in pics[start::step]:
            if len(chosen) == n:
                return chosen
            dst = out / f"{Path(p.name).stem}.png"
            if dst in chosen:
                continue
            rgb = read_picture(p.path())
            s = size / max(rgb.shape[:2])
            w, h = (max(16, round(rgb.shape[1] * s / 2) * 2), max(16, round(rgb.shape[0] * s / 2) * 2))
            small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            if any(rule.keeps(d) for d in detector.detect([small])[0]):
                cv2.imwrite(str(dst), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
                chosen.append(dst)
    return chosen


def bench_anchor(data: Path, work: Path, preset: str) -> list[str]:
    from vcm.codec import EncodeParams, encode, picture_to_clip
    from vcm.media import read_picture
    from vcm.metrics.rd import bd_entry
    from vcm.pipelines.benchmark import BenchmarkConfig, run_benchmark
    from vcm.report import read_points_csv
    from vcm.settings import BENCH_QPS

    curves, secs = {}, {}
    for enc in ("ffmpeg", "vtm"):
        t0 = time.perf_counter()
        rep = run_benchmark(BenchmarkConfig(data, work / f"plain-{enc}", modes=("plain",), qps=BENCH_QPS,
                                            encoder=enc, preset=preset, progress=False), echo=lambda *a: None)
        rows = read_points_csv(work / f"plain-{enc}" / "points.csv")
        pts = {p.point: p for p in rep.points if p.curve.startswith("plain")}
        psnr, nbits, npix, enc_s = {}, {}, {}, []
        for r in rows:
            clip = picture_to_clip(read_picture(data / r.picture))
            res = encode(clip, EncodeParams(qp=r.qp, preset=preset), encoder=enc)  # the benchmark's, cached
            psnr.setdefault(r.qp, []).append(res.psnr_y[0])
            nbits[r.qp] = nbits.get(r.qp, 0) + 8 * res.bytes
            npix[r.qp] = npix.get(r.qp, 0) + r.width * r.height
            enc_s.append(res.seconds)  # the first (uncached) encode's wall time, kept by the cache
        qps = sorted(psnr)
        curves[enc] = {"psnr": ([nbits[q] / npix[q] for q in qps], [float(np.mean(psnr[q])) for q in qps]),
                       "map50": ([pts[f"qp{q}"].bpp for q in qps], [pts[f"qp{q}"].map50 for q in qps]),
                       "version": rep.versions["encoder"], "qps": qps}
        secs[enc] = (float(np.mean(enc_s)), time.perf_counter() - t0)
    lines = ["| encoder | QPs | bpp | mean Y-PSNR dB | mAP@0.5 | encode s per picture (mean over QPs) |",
             "|---|---|---|---|---|---|"]
    for enc, c in curves.items():
        bpp, psnr, map50 = (" / ".join(f"{v:{f}}" for v in vals) for vals, f in
                            ((c["psnr"][0], ".3f"), (c["psnr"][1], ".2f"), (c["map50"][1], ".3f")))
        lines.append(f"| {c['version']} | {c['qps'][0]}..{c['qps'][-1]} | {bpp} | {psnr} | {map50} | "
                     f"{secs[enc][0]:.2f} |")
    lines += ["", "| VTM against libvvenc faster | BD-rate |", "|---|---|"]
    for q, name in (("psnr", "Y-PSNR"), ("map50", "mAP@0.5")):
        e = bd_entry(curves["ffmpeg"][q], curves["vtm"][q], quality=q)
        lines.append(f"| {name} | {e['line']} |")
    lines.append("")
    lines.append(f"Encode time per picture: VTM {secs['vtm'][0]:.2f} s, libvvenc {secs['ffmpeg'][0]:.2f} s "
                 f"({secs['vtm'][0] / max(secs['ffmpeg'][0], 1e-9):.0f}x).")
    return lines


def bench_ctu(data: Path, preset: str, offsets: tuple[int, ...]) -> list[str]:
    """Per picture and mode, the plan at each JRD offset coded, decoded and detected; the cheapest point that keeps
    every object the rule keeps on the original is the mode's bytes at equal kept objects (all of them)."""
    from vcm.codec import EncodeParams, picture_to_clip, yuv_to_rgb
    from vcm.codec.uvg266 import UVG266Encoder
    from vcm.codec.vtm import VTMEncoder
    from vcm.coding.modes import code_picture_mode, reconstruct
    from vcm.detect import create_detector
    from vcm.jrd import create_predictor
    from vcm.media import read_picture
    from vcm.metrics.match import StillDetectedRule, still_detected_all
    from vcm.qp import plan
    from vcm.types import Detections

    det = create_detector("nanodet")
    rule = StillDetectedRule.for_detector(det)
    pred = create_predictor("prior")
    params = EncodeParams(qp=51, preset=preset)
    runs = {"ctu uvg266 (bg 51)": ("ctu", UVG266Encoder(), 51), "ctu VTM (bg 51)": ("ctu", VTMEncoder(), 51),
            "ctu VTM (bg 63)": ("ctu", VTMEncoder(), 63), "objects libvvenc (bg 51)": ("objects", "ffmpeg", 51)}
    best: dict[str, dict[str, tuple[int, int, float]]] = {k: {} for k in runs}  # picture -> (bytes, offset, s)
    secs = {k: 0.0 for k in runs}
    head = ["| picture | objects | " + " | ".join(f"{k}: bytes (offset) / s" for k in runs) + " |",
            "|---|---|" + "---|" * len(runs)]
    lines = []
    for path in sorted(data.glob("*.png")):
        rgb = read_picture(path)
        frame = picture_to_clip(rgb).frames[0]
        h, w = rgb.shape[:2]
        keep = Detections(w, h, tuple(d for d in det.detect([rgb])[0] if rule.keeps(d)))
        objs = pred.predict(rgb, keep)
        cells = []
        for name, (mode, enc, bg) in runs.items():
            for off in offsets:
                p = plan(objs, frame.width, frame.height, bg_qp=bg, offset=off)
                t0 = time.perf_counter()
                coded = code_picture_mode(mode, frame, p, params, encoder=enc, cache=False, display=(w, h))
                s = time.perf_counter() - t0
                secs[name] += s
                found = det.detect([yuv_to_rgb(reconstruct(coded))])[0]
                nbytes = coded.stream_bytes if len(coded.streams) == 1 else _file_bytes(coded)
                if sum(still_detected_all(keep, found, rule)) == len(keep) and (
                        path.stem not in best[name] or nbytes < best[name][path.stem][0]):
                    best[name][path.stem] = (nbytes, off, s)
            b = best[name].get(path.stem)
            cells.append(f"{b[0]:,} ({b[1]:+d}) / {b[2]:.1f}" if b else "none keeps all")
        lines.append(f"| {path.stem} {w}x{h} | {len(keep)} | " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    both = [k for k in best["ctu uvg266 (bg 51)"] if all(k in b for b in best.values())]
    tot = {name: sum(b[k][0] for k in both) for name, b in best.items()}
    base = tot["ctu uvg266 (bg 51)"]
    lines.append(f"| **total over the {len(both)} pictures every mode keeps whole** | | "
                 + " | ".join(f"**{v:,}**" for v in tot.values()) + " |")
    n = len(offsets) * len(list(data.glob('*.png')))
    foot = ["", f"Offsets {', '.join(f'{o:+d}' for o in offsets)}; mean encode seconds per coded point: "
            + ", ".join(f"{k} {v / n:.2f}" for k, v in secs.items()),
            "Bytes at equal kept objects against ctu uvg266 (bg 51): " + ", ".join(
                f"{k} {100 * (v / base - 1):+.1f} %" for k, v in tot.items() if k != "ctu uvg266 (bg 51)")]
    return head + lines + foot


def _file_bytes(coded) -> int:
    from vcm.coding.modes import to_vcm_file
    from vcm.container import pack_vcm_file

    return len(pack_vcm_file(to_vcm_file(coded)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pictures", type=int, default=6, help="bundled pictures (default 6)")
    ap.add_argument("--size", type=int, default=320, help="longest side after scaling (default 320)")
    ap.add_argument("--preset", default="faster", help="libvvenc/uvg266 preset (VTM has none)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/vcm-bench-vtm"), help="pictures and reports")
    ap.add_argument("--offsets", type=lambda s: [int(v) for v in s.split(",")], default=[-8, -4, 0, 4],
                    help="JRD offsets of the ctu part (default -8,-4,0,4)")
    ap.add_argument("--skip-anchor", action="store_true")
    ap.add_argument("--skip-ctu", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from vcm.detect import create_detector

    print(f"Machine: {machine()}, Python {platform.python_version()}; preset {args.preset}; wall seconds.\n")
    data = args.work / f"pics-{args.pictures}-{args.size}"
    pics = pick_pictures(args.pictures, args.size, data, create_detector("nanodet"))
    print(f"{len(pics)} pictures: {', '.join(p.stem for p in pics)} (longest side {args.size})\n")
    if not args.skip_ctu:
        print("\n".join(bench_ctu(data, args.preset, tuple(args.offsets))) + "\n")
    if not args.skip_anchor:
        print("\n".join(bench_anchor(data, args.work, args.preset)))
    print(f"\nLoad average at the end: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
