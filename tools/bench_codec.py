"""Codec benchmark (issue 2): whole-command time of `vcm vvc encode` against the bare ffmpeg command, run side
by side on the same 1080p picture and QP, and a bytes / PSNR / time table over QPs and presets.

    python tools/bench_codec.py                 # both parts, prints Markdown for docs/BENCHMARKS.md
    python tools/bench_codec.py --runs 5 --skip-table
"""
from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def mosaic_1080p():
    """A 1920x1080 mosaic of real photos at their native resolution (no upscaling blur): camera-like detail.
    zidane.jpg and bus.jpg (ultralytics), astronaut, coffee, chelsea, rocket (scikit-image, CC0)."""
    import cv2
    import numpy as np
    from skimage import data

    from tests.conftest import _ultralytics_asset

    tiles = [cv2.cvtColor(cv2.imread(str(_ultralytics_asset("zidane.jpg"))), cv2.COLOR_BGR2RGB),
             cv2.cvtColor(cv2.imread(str(_ultralytics_asset("bus.jpg"))), cv2.COLOR_BGR2RGB)[:360],
             data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.astronaut()[::-1]]
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    x = y = row_h = 0
    for t in tiles * 3:
        h, w = t.shape[:2]
        if x >= 1920:
            x, y, row_h = 0, y + row_h, 0
        if y >= 1080:
            break
        h, w = min(h, 1080 - y), min(w, 1920 - x)
        canvas[y:y + h, x:x + w] = t[:h, :w]
        x, row_h = x + w, max(row_h, h)
    return canvas


def _pictures(tmp: Path) -> dict[str, Path]:
    """The 1080p mosaic, zidane.jpg scaled to 1920x1080 (smooth, fast to code), astronaut 512x512."""
    import cv2
    from skimage import data

    from tests.conftest import _ultralytics_asset

    cv2.imwrite(str(tmp / "mosaic.png"), cv2.cvtColor(mosaic_1080p(), cv2.COLOR_RGB2BGR))
    big = cv2.resize(cv2.imread(str(_ultralytics_asset("zidane.jpg"))), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp / "zidane1080.png"), big)
    cv2.imwrite(str(tmp / "512.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return {"1920x1080 mosaic": tmp / "mosaic.png", "1920x1080 zidane upscaled": tmp / "zidane1080.png",
            "512x512 astronaut": tmp / "512.png"}


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def command_overhead(picture: Path, qp: int, runs: int, tmp: Path, preset: str = "faster") -> dict:
    from vcm.codec.ffmpeg import ffmpeg_exe

    vcm = shutil.which("vcm") or str(Path(sys.executable).parent / "vcm")
    bare = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-i", str(picture), "-pix_fmt", "yuv420p10le",
            "-c:v", "libvvenc", "-preset", preset, "-qp", str(qp), "-qpa", "0",
            "-vvenc-params", "IntraPeriod=1:IntraQPOffset=0:MCTF=0:BIM=0", "-f", "vvc", str(tmp / "bare.266")]
    ours = [vcm, "vvc", "encode", str(picture), "-q", str(qp), "-o", str(tmp / "ours.266"), "--no-cache",
            "--preset", preset]
    _time(bare), _time(ours)  # warm the page cache
    t_bare, t_ours = [], []
    for _ in range(runs):  # interleaved: both see the same machine state
        t_bare.append(_time(bare))
        t_ours.append(_time(ours))
    mb, mo = statistics.median(t_bare), statistics.median(t_ours)
    return {"bare_s": mb, "vcm_s": mo, "ratio": mo / mb, "runs": runs,
            "bare_bytes": (tmp / "bare.266").stat().st_size, "vcm_bytes": (tmp / "ours.266").stat().st_size}


def rd_table(pictures: dict[str, Path], presets: list[str], qps: list[int]) -> list[dict]:
    from vcm.codec import EncodeParams, encode, picture_to_clip, read_picture

    rows = []
    for size, path in pictures.items():
        clip = picture_to_clip(read_picture(path))
        for preset in presets:
            for qp in qps:
                r = encode(clip, EncodeParams(qp=qp, preset=preset), cache=False)
                rows.append({"size": size, "preset": preset, "qp": qp, "bytes": r.bytes, "bpp": r.bpp,
                             "psnr_y": r.psnr, "encode_s": r.seconds})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--qp", type=int, default=37)
    ap.add_argument("--presets", default="faster,medium")
    ap.add_argument("--qps", default="22,27,32,37,42,47,52,57")
    ap.add_argument("--skip-table", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pics = _pictures(tmp)
        print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
              f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}")
        if not args.skip_overhead:
            print(f"\nQP {args.qp}, median of {args.runs} interleaved runs (vcm with --no-cache):")
            print("| picture | preset | bare ffmpeg s | vcm vvc encode s | ratio (target <= 1.15) | bare bytes | vcm bytes |")
            print("|---|---|---|---|---|---|---|")
            for name in ("1920x1080 mosaic", "1920x1080 zidane upscaled"):
                for preset in ("faster", "medium"):
                    o = command_overhead(pics[name], args.qp, args.runs, tmp, preset)
                    print(f"| {name} | {preset} | {o['bare_s']:.3f} | {o['vcm_s']:.3f} | {o['ratio']:.3f} | "
                          f"{o['bare_bytes']} | {o['vcm_bytes']} |")
        if not args.skip_table:
            table_pics = {k: v for k, v in pics.items() if "upscaled" not in k}
            rows = rd_table(table_pics, args.presets.split(","), [int(q) for q in args.qps.split(",")])
            print("\n| size | preset | QP | bytes | bpp | Y-PSNR dB | encode s |\n|---|---|---|---|---|---|---|")
            for r in rows:
                print(f"| {r['size']} | {r['preset']} | {r['qp']} | {r['bytes']} | {r['bpp']:.4f} | "
                      f"{r['psnr_y']:.2f} | {r['encode_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
