"""Seconds per picture of `vcm label`: full sweep vs smart search, 1 vs 2 worker processes, side by side.

    python tools/bench_label.py                       # 2 pictures of 640x480, QPs 0-63, full+smart x 1+2 workers
    python tools/bench_label.py --qps 40-63 --pictures 1 --workers 1

Pictures (about 640x480, a few people): a 640x480 crop of ultralytics' bus.jpg and the whole bus.jpg scaled
to 480x640 (then a brighter crop and a blurred copy for --pictures 3, 4): all different pixels, so nothing is
shared through the encode cache. Every configuration runs with an EMPTY encode cache
of its own, so each one codes everything it needs. Prints one row per configuration and the ratios
(smart / full, 2 workers / 1 worker), with the machine's load average: other processes on a shared machine
slow every row alike, and the ratios are what to compare. CPU seconds (this process and its children:
ffmpeg, worker processes) do not grow with other people's load: on an idle machine with C cores, wall time
lies between CPU/C (everything overlapped) and CPU (nothing overlapped).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def make_pictures(folder: Path, n: int) -> list[Path]:
    import importlib.util

    import cv2

    from vcm.media import read_picture, write_picture

    spec = importlib.util.find_spec("ultralytics")
    bus = read_picture(Path(spec.origin).parent / "assets" / "bus.jpg")  # 810x1080
    import numpy as np

    crop = bus[350:830, 0:640]  # 640x480 around the two people hog-person finds
    small = cv2.resize(bus, (480, 640), interpolation=cv2.INTER_AREA)
    brighter = np.clip(crop.astype(np.int16) + 12, 0, 255).astype(np.uint8)
    variants = [crop, small, brighter, cv2.GaussianBlur(small, (3, 3), 0)]
    out = []
    for i in range(n):
        p = folder / f"bus{i}.png"
        write_picture(p, variants[i % len(variants)].copy())
        out.append(p)
    return out


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of every child it has waited for (ffmpeg, workers)."""
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def run_one(pictures: Path, search: str, workers: int, qps: list[int]) -> dict:
    from vcm.pipelines.label import LabelConfig, run_label

    cache = Path(tempfile.mkdtemp(prefix="vcm-bench-cache-"))
    out = Path(tempfile.mkdtemp(prefix="vcm-bench-ds-")) / "ds"
    old = os.environ.get("VCM_CACHE_DIR")
    os.environ["VCM_CACHE_DIR"] = str(cache)  # read at every encode and inherited by the workers
    try:
        cfg = LabelConfig(pictures=pictures, out=out, qps=qps, search=search, workers=workers, progress=False)
        t0, c0 = time.perf_counter(), _cpu_seconds()
        summary = run_label(cfg)
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        labels = json.loads((out / "JRD_info.json").read_text())
    finally:
        if old is None:
            os.environ.pop("VCM_CACHE_DIR", None)
        else:
            os.environ["VCM_CACHE_DIR"] = old
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(out.parent, ignore_errors=True)
    n = summary.pictures
    return {"search": search, "workers": workers, "pictures": n,
            "seconds": round(wall, 2), "s_per_picture": round(wall / n, 2),
            "cpu_seconds": round(cpu, 2), "cpu_s_per_picture": round(cpu / n, 2),
            "codings_per_picture": round(summary.codings / n, 1), "objects": summary.objects,
            "failed": len(summary.failed), "labels": labels}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pictures", type=int, default=2, help="number of ~640x480 pictures (default 2)")
    ap.add_argument("--qps", default="0-63")
    ap.add_argument("--searches", default="full,smart")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    a = ap.parse_args(argv)

    from vcm import labeling

    qps = labeling.parse_qps(a.qps)
    searches = [s for s in a.searches.split(",") if s]
    workers = [int(w) for w in a.workers.split(",") if w]
    rows = []
    with tempfile.TemporaryDirectory(prefix="vcm-bench-pics-") as tmp:
        make_pictures(Path(tmp), a.pictures)
        load0 = os.getloadavg()
        for s in searches:
            for w in workers:
                rows.append(run_one(Path(tmp), s, w, qps))
                print(_row(rows[-1]), flush=True)
        load1 = os.getloadavg()
    by = {(r["search"], r["workers"]): r for r in rows}
    ratios = {}
    for w in workers:
        sm, fu = by.get(("smart", w)), by.get(("full", w))
        if sm and fu:
            ratios[f"smart/full time, {w} worker(s)"] = sm["seconds"] / fu["seconds"]
            ratios[f"smart/full CPU, {w} worker(s)"] = sm["cpu_seconds"] / fu["cpu_seconds"]
            ratios[f"labels equal smart vs full, {w} worker(s)"] = sm["labels"] == fu["labels"]
    for s in searches:
        one, two = by.get((s, 1)), by.get((s, 2))
        if one and two:
            ratios[f"{s}: 2 workers / 1 worker time"] = two["seconds"] / one["seconds"]
    machine = {"cpus": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
               "loadavg_before": [round(v, 2) for v in load0], "loadavg_after": [round(v, 2) for v in load1]}
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
    print(f"machine: {machine}")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "ratios": ratios, "machine": machine, "qps": a.qps}, indent=2))
    return 0


def _row(r: dict) -> str:
    return (f"{r['search']:5s} workers={r['workers']} pictures={r['pictures']} "
            f"objects={r['objects']} {r['s_per_picture']:7.2f} s/picture (CPU {r['cpu_s_per_picture']:6.2f} s)  "
            f"{r['codings_per_picture']:5.1f} QPs probed/picture"
            f"  total {r['seconds']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
