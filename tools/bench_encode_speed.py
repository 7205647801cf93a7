"""Whole-command time of `vcm encode` (issue 12's speed targets), measured side by side in one run.

On real 640x480 pictures (bus.jpg and zidane.jpg resized, 4-5 nanodet objects each), encode cache off, rounds
interleaved, median of --repeat: `--mode plain --qp 37` (the reference), `--jrd prior` (mode auto: every
candidate coded and checked), `--jrd prior --mode objects`, and `--jrd search`. Prints seconds and the ratio to
plain. Targets: `--jrd search` <= 8 s per picture; `--jrd prior` <= 1.5x plain.

    python tools/bench_encode_speed.py --repeat 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = {
    "plain": ["--mode", "plain", "--qp", "37"],
    "prior (auto)": ["--jrd", "prior"],
    "prior (objects)": ["--jrd", "prior", "--mode", "objects"],
    "search (auto)": ["--jrd", "search"],
}


def pictures(folder: Path) -> list[Path]:
    import importlib.util

    import cv2

    assets = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"
    out = []
    for name in ("bus.jpg", "zidane.jpg"):
        img = cv2.imread(str(assets / name))
        dst = folder / f"{Path(name).stem}_640x480.png"
        cv2.imwrite(str(dst), cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA))
        out.append(dst)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", default=",".join(RUNS), help="which runs, comma-separated")
    args = ap.parse_args(argv)
    names = [r.strip() for r in args.runs.split(",") if r.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="vcm-bench-encode-"))
    pics = pictures(tmp)
    env = dict(os.environ, YOLO_OFFLINE="1", HF_HUB_OFFLINE="1")
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.repeat):
        for n in names:  # interleaved: every run sees the same machine load
            for p in pics:
                t = time.perf_counter()
                subprocess.run([sys.executable, "-m", "vcm", "encode", str(p), "-o", str(tmp / f"{p.stem}.266"),
                                "--no-cache", *RUNS[n]], check=True, env=env, capture_output=True)
                times[n].append(time.perf_counter() - t)
    base = statistics.median(times["plain"]) if "plain" in times else None
    print(f"{'run':<18} {'median s/picture':>16} {'x plain':>8}")
    for n in names:
        m = statistics.median(times[n])
        print(f"{n:<18} {m:16.2f} {(m / base if base else float('nan')):8.2f}")
    print(f"({len(pics)} pictures x {args.repeat} rounds, cache off, load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
