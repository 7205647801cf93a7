"""Start-up cost of the `vcm` command (issue 15): `vcm vvc encode` of a 768x576 picture against the bare ffmpeg
command that codes the same picture the same way (libvvenc, preset faster, all-intra, QP 37), and `vcm --help`,
measured side by side in interleaved rounds so both see the same machine load; ratios are medians over rounds.

    python tools/bench_startup.py                  # 9 rounds, prints a Markdown table
    python tools/bench_startup.py --runs 15 --picture my.png --json out.json

The vcm commands run as `python -c "from vcm.cli import main; main()"` (what the console script does) with
the interpreter running this script and the `vcm` of this checkout (else the installed one; it prints which).
Targets: vvc encode <= 1.3x the bare encode, `vcm --help` < 0.3 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO, TARGET_HELP = 1.3, 0.3
ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "vcm" / "__init__.py").is_file():  # run from a checkout: measure that checkout's vcm
    sys.path.insert(0, str(ROOT))


def make_picture(path: Path) -> str:
    """A 768x576 camera picture: ultralytics' zidane.jpg (found as a file, not imported) scaled down with area
    averaging, else scikit-image's astronaut tiled and cropped; written as PNG."""
    import importlib.util

    import cv2
    import numpy as np

    spec = importlib.util.find_spec("ultralytics")
    src = Path(spec.origin).parent / "assets" / "zidane.jpg" if spec and spec.origin else None
    if src is not None and src.is_file():
        img = cv2.resize(cv2.imread(str(src)), (768, 576), interpolation=cv2.INTER_AREA)
        what = "zidane.jpg (ultralytics) scaled to 768x576"
    elif importlib.util.find_spec("skimage") is not None:
        from skimage import data

        img = cv2.cvtColor(np.tile(data.astronaut(), (2, 2, 1))[:576, :768], cv2.COLOR_RGB2BGR)
        what = "astronaut (scikit-image) tiled to 768x576"
    else:
        raise SystemExit("no picture to make here (neither ultralytics nor scikit-image): pass --picture FILE")
    cv2.imwrite(str(path), img)
    return what


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def commands(picture: Path, tmp: Path, qp: int, preset: str) -> dict[str, list[str]]:
    """The commands timed in every round. Besides the two compared, what bounds vcm from below: vcm's own
    ffmpeg call on the raw 10-bit frames it makes, and the imports of the libraries the command needs."""
    from vcm.codec import EncodeParams, read_input
    from vcm.codec.colour import frame_to_bytes
    from vcm.codec.ffmpeg import FFmpegEncoder, ffmpeg_exe

    clip = read_input(picture)
    yuv = tmp / "input.yuv"
    yuv.write_bytes(b"".join(frame_to_bytes(f) for f in clip.frames))
    raw = FFmpegEncoder().command(yuv, clip, EncodeParams(qp=qp, preset=preset), tmp / "raw.266")
    vcm = [sys.executable, "-c", "from vcm.cli import main; main()"]
    encode = ["vvc", "encode", str(picture), "-q", str(qp), "--preset", preset]
    return {
        "bare ffmpeg encode": [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
                               "-i", str(picture), "-pix_fmt", "yuv420p10le", "-c:v", "libvvenc",
                               "-preset", preset, "-qp", str(qp), "-qpa", "0",
                               "-vvenc-params", "IntraPeriod=1:IntraQPOffset=0:MCTF=0:BIM=0",
                               "-f", "vvc", str(tmp / "bare.266")],
        "vcm vvc encode --no-cache": vcm + encode + ["-o", str(tmp / "ours.266"), "--no-cache"],
        "vcm vvc encode (cache miss)": vcm + encode + ["-o", str(tmp / "miss.266")],
        "vcm --help": vcm + ["--help"],
        "vcm's ffmpeg call alone (raw 10-bit input)": raw,
        "python -c 'import numpy, cv2, click'": [sys.executable, "-c", "import numpy, cv2, click"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=9, help="interleaved rounds (default 9)")
    ap.add_argument("--qp", type=int, default=37)
    ap.add_argument("--preset", default="faster")
    ap.add_argument("--picture", type=Path, help="picture to code (default: a 768x576 one made here)")
    ap.add_argument("--json", type=Path, help="also write the timings as JSON")
    ap.add_argument("--installed", action="store_true",
                    help="measure the installed vcm, not this checkout's (a wheel install has its bytecode "
                         "compiled; a checkout under PYTHONDONTWRITEBYTECODE=1 compiles vcm on every start)")
    args = ap.parse_args(argv)
    if args.installed and str(ROOT) in sys.path:
        sys.path.remove(str(ROOT))

    import vcm

    env = dict(os.environ)
    if not args.installed:
        env["PYTHONPATH"] = str(Path(vcm.__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="vcm-bench-startup-") as tmp_s:
        tmp = Path(tmp_s)
        env["VCM_CACHE_DIR"] = str(tmp / "cache")
        picture = args.picture
        what = str(picture)
        if picture is None:
            picture = tmp / "picture.png"
            what = make_picture(picture)
        cmds = commands(picture, tmp, args.qp, args.preset)
        for cmd in cmds.values():  # warm-up: page cache, ffmpeg capability memo
            _run(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for i in range(args.runs):
            for name, cmd in cmds.items():
                miss = {"VCM_CACHE_DIR": str(tmp / f"cache-{i}")} if "cache miss" in name else {}
                times[name].append(_run(cmd, {**env, **miss}))
    bare, ours = times["bare ffmpeg encode"], times["vcm vvc encode --no-cache"]
    ratios = [o / b for o, b in zip(ours, bare)]
    ratio = statistics.median(ratios)
    miss_ratio = statistics.median(m / b for m, b in zip(times["vcm vvc encode (cache miss)"], bare))
    imports, raw = times["python -c 'import numpy, cv2, click'"], times["vcm's ffmpeg call alone (raw 10-bit input)"]
    floor = statistics.median((i + r) / b for i, r, b in zip(imports, raw, bare))
    help_s = statistics.median(times["vcm --help"])
    load = os.getloadavg()
    print(f"vcm: {vcm.__file__}; python {platform.python_version()}; {os.cpu_count()} cores; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"picture: {what}; QP {args.qp}, preset {args.preset}; {args.runs} interleaved rounds\n")
    print("| command | median s | min s |")
    print("| --- | --- | --- |")
    for name, ts in times.items():
        print(f"| `{name}` | {statistics.median(ts):.3f} | {min(ts):.3f} |")
    print(f"\nvvc encode / bare ffmpeg: median of per-round ratios {ratio:.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}; target <= {TARGET_RATIO}x: "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    print(f"with the encode cache (a miss each round): {miss_ratio:.2f}x")
    print(f"floor for any command that imports numpy, cv2 and click and then runs vcm's ffmpeg call: {floor:.2f}x")
    print(f"vcm --help: median {help_s:.3f} s "
          f"(target < {TARGET_HELP} s: {'met' if help_s < TARGET_HELP else 'NOT met'})")
    if args.json:
        args.json.write_text(json.dumps({"times": times, "ratio_median": ratio,
                                         "cache_miss_ratio_median": miss_ratio, "floor_ratio_median": floor,
                                         "help_median_s": help_s,
                                         "loadavg": load, "picture": what, "runs": args.runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
