"""Whole-command time of `vcm encode` (issue 12's speed targets), measured side by side in one run.

On real 640x480 pictures (bus.jpg and zidane.jpg resized: 4 and 2 nanodet objects at the keep score), cache
off, rounds interleaved, median of --repeat: `--mode plain --qp 37` (the reference), `--jrd prior` (mode auto: every
candidate coded and checked), `--jrd prior --mode objects`, and `--jrd search`. Prints seconds, the ratio to
plain and the CPU seconds (the command and its encoder processes: on a loaded machine the wall time follows the
CPU time, not the core count). Targets: `--jrd search` <= 8 s per picture; `--jrd prior` <= 1.5x plain.
`--cache cold` runs every command with an empty encode cache of its own (a new picture with the default
settings: identical encodes inside one command are coded once) instead of `--no-cache`; `--cache warm` with the
user's own encode cache as it stands ($VCM_CACHE_DIR or ~/.cache/vcm/encodes: a researcher's holds tens of
thousands of entries), each command on a picture no command coded before (+-1 grey level of random noise), so
every encode misses a full cache (what caught the cache's scan on every store).

    python tools/bench_encode_speed.py --repeat 3
    python tools/bench_encode_speed.py --crops --repeat 5     # crop streams: one ffmpeg run vs one per crop
    python tools/bench_encode_speed.py --baseline /work/main --runs "plain,search (auto)" --repeat 3
    python tools/bench_encode_speed.py --baseline /work/main --compare-jrds 10   # same JRDs before and after?

`--baseline DIR` runs every command a second time with the vcm of another checkout (DIR on PYTHONPATH), rounds
interleaved with this one's, and prints after/before ratios: a before/after comparison under the same load.
`--compare-jrds N` runs `vcm encode --jrd search` (cache off) on the first N pictures of the bundled default set
that hold an object at the keep score, with this checkout and with the baseline, and compares every JRD.

`--crops` times `vcm.codec.encode_crops` alone (cache off) on crops of bus.jpg: N crops of one size at
QPs 27..47, coded by one ffmpeg run (each output `crop_threads(N)` encoder threads, and with vvenc's default
threads) against one ffmpeg process per crop, one per CPU side by side (the default `Encoder.encode_crops`).
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


def vcm_env(tree: Path | None, cwd: Path) -> dict[str, str]:
    """The environment that runs `python -m vcm` from `tree` (None: this checkout), checked: run from `cwd`, not
    from a checkout, since `-m` puts the working folder first on sys.path and its vcm would shadow PYTHONPATH
    (until 2026-12-07 every --baseline run from the repository root timed this checkout twice)."""
    tree = (tree or Path(__file__).resolve().parents[1]).resolve()
    env = dict(os.environ, YOLO_OFFLINE="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(tree))
    got = subprocess.run([sys.executable, "-c", "import vcm; print(vcm.__file__)"], env=env, cwd=cwd, check=True,
                         capture_output=True, text=True).stdout.strip()
    want = tree / "vcm"
    if Path(got).resolve().parent != want:
        raise SystemExit(f"python -m vcm would run {got}, not {want}: is {tree} a checkout (with vcm/ in it)?")
    return env


def shifted(picture: Path, k: int, folder: Path) -> Path:
    """`picture` with random noise of +-1 grey level: a picture no earlier command (of this run or any earlier
    one) coded, so every encode misses the cache, its crops' included (a changed pixel alone leaves the crops
    away from it cached)."""
    import cv2
    import numpy as np

    img = cv2.imread(str(picture)).astype(np.int16)
    img += np.random.default_rng(int.from_bytes(os.urandom(8), "little")).integers(-1, 2, img.shape, dtype=np.int16)
    img = np.clip(img, 0, 255).astype(np.uint8)
    dst = folder / f"{picture.stem}+{k}.png"
    cv2.imwrite(str(dst), img)
    return dst


CROP_SIZES = {"64x64": (64, 64), "230x324": (230, 324), "400x600": (400, 600)}
CROP_COUNTS = (2, 5, 10, 16)


def bench_crops(repeat: int) -> None:
    """Seconds per `encode_crops` call: one ffmpeg run (threads per output: crop_threads, or vvenc's default)
    against one process per crop side by side; medians of `repeat`, rounds interleaved."""
    import importlib.util

    from vcm.codec import create_encoder, picture_to_clip
    from vcm.codec import ffmpeg as ff
    from vcm.codec.base import CropJob, EncodeParams, Encoder
    from vcm.media import read_picture

    assets = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"
    frame = picture_to_clip(read_picture(assets / "bus.jpg")).frames[0]  # 810x1080
    enc = create_encoder("ffmpeg")
    own_threads = ff.crop_threads

    def run(how: str, jobs) -> float:
        t = time.perf_counter()
        if how == "one process per crop":
            got = Encoder.encode_crops(enc, frame, jobs)
        else:
            ff.crop_threads = own_threads if how == "one run, crop_threads" else (lambda n: 0)
            try:
                got = enc.encode_crops(frame, jobs)
            finally:
                ff.crop_threads = own_threads
        bad = [g for g in got if isinstance(g, Exception)]
        if bad:
            raise bad[0]
        return time.perf_counter() - t

    hows = ("one process per crop", "one run, crop_threads", "one run, vvenc threads")
    print(f"{'crops':>5} {'size':>8} " + " ".join(f"{h:>22}" for h in hows) + "   one run / per crop")
    with tempfile.TemporaryDirectory(prefix="vcm-bench-crops-") as tmp:
        for n in CROP_COUNTS:
            for name, (w, h) in CROP_SIZES.items():
                step_x, step_y = max(2, (frame.width - w) // max(1, n - 1)) & ~1, max(2, (frame.height - h) // max(1, n - 1)) & ~1
                rects = [(min(i * step_x, frame.width - w) & ~1, min(i * step_y, frame.height - h) & ~1, w, h)
                         for i in range(n)]
                jobs = [CropJob(r, EncodeParams(qp=27 + 5 * (i % 5)), Path(tmp) / f"c{i}.266") for i, r in enumerate(rects)]
                times: dict[str, list[float]] = {h_: [] for h_ in hows}
                for _ in range(repeat):
                    for h_ in hows:
                        times[h_].append(run(h_, jobs))
                med = {h_: statistics.median(v) for h_, v in times.items()}
                print(f"{n:5d} {name:>8} " + " ".join(f"{med[h_]:22.3f}" for h_ in hows)
                      + f"   {med[hows[1]] / med[hows[0]]:.2f}")
    print(f"(cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", default=",".join(RUNS), help="which runs, comma-separated")
    ap.add_argument("--cache", choices=("off", "cold", "warm"), default="off",
                    help="off: --no-cache; cold: an empty encode cache per command; warm: the user's cache, new "
                         "pictures")
    ap.add_argument("--crops", action="store_true", help="time crop streams: one ffmpeg run against one per crop")
    ap.add_argument("--baseline", type=Path, help="a checkout of the code before: its runs interleaved with ours")
    ap.add_argument("--compare-jrds", type=int, default=0, metavar="N",
                    help="compare the search's JRDs with the baseline's on N bundled pictures, then stop")
    args = ap.parse_args(argv)
    if args.crops:
        bench_crops(args.repeat)
        return 0
    if args.compare_jrds:
        if not args.baseline:
            ap.error("--compare-jrds needs --baseline")
        return compare_jrds(args.baseline, args.compare_jrds)
    names = [r.strip() for r in args.runs.split(",") if r.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="vcm-bench-encode-"))
    pics = pictures(tmp)
    import resource
    import shutil

    trees = {"": None} if args.baseline is None else {"": None, " [before]": args.baseline.resolve()}
    envs = {t: vcm_env(tree, tmp) for t, tree in trees.items()}
    rows = [(n, t) for n in names for t in trees]
    times: dict[tuple, list[float]] = {r: [] for r in rows}
    cpu: dict[tuple, list[float]] = {r: [] for r in rows}
    loads = []
    fresh = 0  # --cache warm: pictures made so far (one per command)
    for _ in range(args.repeat):
        for n, t in rows:  # interleaved: every run, before and after, sees the same machine load
            env = dict(envs[t])
            for p in pics:
                cache = ["--no-cache"]
                if args.cache == "cold":
                    cache, env["VCM_CACHE_DIR"] = [], str(tmp / "cache")
                    shutil.rmtree(tmp / "cache", ignore_errors=True)
                elif args.cache == "warm":
                    cache, fresh = [], fresh + 1
                    p = shifted(p, fresh, tmp)
                r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
                subprocess.run([sys.executable, "-m", "vcm", "encode", str(p), "-o", str(tmp / f"{p.stem}.266"),
                                *cache, *RUNS[n]], check=True, env=env, cwd=tmp, capture_output=True)
                times[(n, t)].append(time.perf_counter() - t0)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[(n, t)].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
                loads.append(os.getloadavg()[0])
    base = statistics.median(times[("plain", "")]) if ("plain", "") in times else None
    print(f"{'run':<27} {'median s/picture':>16} {'x plain':>8} {'CPU s/picture':>14} {'after/before':>13}")
    for n, t in rows:
        m = statistics.median(times[(n, t)])
        ratio = ""
        if t == "" and args.baseline is not None:
            b = statistics.median(times[(n, " [before]")])
            cb = statistics.median(cpu[(n, " [before]")])
            ratio = f"{m / b:.2f} (CPU {statistics.median(cpu[(n, t)]) / cb:.2f})"
        print(f"{n + t:<27} {m:16.2f} {(m / base if base else float('nan')):8.2f} "
              f"{statistics.median(cpu[(n, t)]):14.2f} {ratio:>13}")
    print(f"({len(pics)} pictures x {args.repeat} rounds, cache {args.cache}, {os.cpu_count()} cores, load average "
          f"{min(loads):.1f}-{max(loads):.1f} during the runs"
          + (f"; before = {args.baseline}" if args.baseline else "") + ")")
    return 0


def compare_jrds(baseline: Path, n: int) -> int:
    """`vcm encode --jrd search --no-cache` on the first n bundled pictures with an object at the keep score, with
    this checkout and the baseline (interleaved): every object's JRD, rule JRD and probes; exit 1 if a JRD differs."""
    import json

    from vcm.bundled import bundled_pictures
    from vcm.codec import read_picture
    from vcm.detect import build_detector
    from vcm.settings import CodingSettings

    s = CodingSettings()
    det = build_detector(s)
    rule = s.rule_for(det)
    chosen = []
    for bp in bundled_pictures("default"):
        if len(chosen) == n:
            break
        if rule.must_keep(det.detect_one(read_picture(bp.path()))):
            chosen.append(bp)
    tmp = Path(tempfile.mkdtemp(prefix="vcm-bench-jrds-"))
    envs = {"": vcm_env(None, tmp), " [before]": vcm_env(baseline.resolve(), tmp)}
    differ, secs = 0, {"": [], " [before]": []}
    print(f"{'picture':<28} {'JRDs before':<22} {'JRDs after':<22} {'probes':>9} {'s before':>8} {'s after':>8}")
    for bp in chosen:
        got = {}
        for t, env in envs.items():
            out = tmp / f"{bp.name}{t.strip()}.json"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vcm", "encode", str(bp.path()), "-o", str(tmp / "x.266"),
                            "--no-cache", "--jrd", "search", "--json", str(out)], check=True, env=env, cwd=tmp,
                           capture_output=True)
            secs[t].append(time.perf_counter() - t0)
            rep = json.loads(out.read_text())
            got[t] = ([o["jrd"] for o in rep["objects"]], (rep["settings"].get("search_stats") or {}).get("probes"))
        same = got[""][0] == got[" [before]"][0]
        differ += not same
        print(f"{bp.name[:28]:<28} {str(got[' [before]'][0]):<22} {str(got[''][0]):<22} "
              f"{got[' [before]'][1]!s:>4}->{got[''][1]!s:<4} {secs[' [before]'][-1]:8.1f} {secs[''][-1]:8.1f}"
              + ("" if same else "   DIFFERENT"))
    print(f"{len(chosen)} pictures, {differ} with other JRDs; median s/picture before "
          f"{statistics.median(secs[' [before]']):.1f}, after {statistics.median(secs['']):.1f}; load average "
          f"{os.getloadavg()[0]:.1f}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
