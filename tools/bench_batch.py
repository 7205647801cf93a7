"""Batch benchmark (issue 8): `vcm batch` throughput in pictures per minute with 1 and 2 workers, run side by
side on the same folder of distinct real pictures (crops of bus.jpg, zidane.jpg and scikit-image photos), each
run with a fresh encode cache so nothing is free; the scaling ratio is workers-2 over workers-1 throughput.

    python tools/bench_batch.py                     # 16 pictures, local executor, prints Markdown
    python tools/bench_batch.py --pictures 8 --executor ray
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def make_pictures(folder: Path, n: int) -> list[Path]:
    """n distinct pictures of 480x400 .. 640x480 cut from real photos (no two share content)."""
    import cv2
    from skimage import data

    from vcm.pipelines.encode import example_picture
    from vcm.media import read_picture, write_picture

    bus = example_picture()  # ultralytics/assets/bus.jpg; zidane.jpg lies beside it
    srcs = [read_picture(bus), read_picture(bus.parent / "zidane.jpg"),
            data.astronaut(), data.coffee(), data.chelsea()]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        img = srcs[k % len(srcs)]
        h, w = img.shape[:2]
        ch, cw = min(h, 400 + 16 * (k % 6)), min(w, 480 + 16 * (k % 6))
        y, x = (17 * k) % max(1, h - ch + 1), (29 * k) % max(1, w - cw + 1)
        p = folder / f"pic{k:03d}.png"
        write_picture(p, cv2.flip(img[y:y + ch, x:x + cw], 1) if (k // len(srcs)) % 2 else img[y:y + ch, x:x + cw])
        out.append(p)
    return out


def run_once(src: Path, out: Path, workers: int, executor: str, jrd: str):
    from vcm.pipelines.batch import BatchConfig, run_batch
    from vcm.settings import CodingSettings

    os.environ["VCM_CACHE_DIR"] = tempfile.mkdtemp(prefix="vcm-bench-cache-")  # nothing cached
    cfg = BatchConfig(src, out, CodingSettings(jrd=jrd, check=False), workers=workers, executor=executor,
                      progress=False)
    t = time.perf_counter()
    s = run_batch(cfg, echo=lambda m: None)
    return time.perf_counter() - t, s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pictures", type=int, default=16)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--executor", default="local", choices=["local", "ray"])
    ap.add_argument("--jrd", default="prior")
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="vcm-bench-batch-"))
    pics = make_pictures(tmp / "in", a.pictures)
    workers = [int(w) for w in a.workers.split(",")]
    best: dict[int, float] = {}
    sizes: dict[int, int] = {}
    for r in range(a.runs):
        for w in workers:  # interleaved: the machine's load hits both alike
            secs, s = run_once(tmp / "in", tmp / f"out_w{w}_r{r}", w, a.executor, a.jrd)
            if s.failed:
                print(f"failed items: {s.failed_items}", file=sys.stderr)
                return 1
            best[w] = min(best.get(w, float("inf")), secs)
            sizes[w] = s.bytes
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}. {len(pics)} pictures "
          f"(480x400 to 560x480 crops of real photos), executor {a.executor}, detector hog-person, jrd {a.jrd}, "
          f"mode objects, preset faster, encode cache off; best of {a.runs} run(s), whole run_batch wall time.\n")
    print("| workers | seconds | pictures/min | vs 1 worker | output bytes |")
    print("|---|---|---|---|---|")
    base = best[workers[0]]
    for w in workers:
        print(f"| {w} | {best[w]:.1f} | {60 * len(pics) / best[w]:.1f} | {base / best[w]:.2f}x | {sizes[w]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
