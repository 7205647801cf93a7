"""Build the uvg266 VVC encoder from a source snapshot into a per-user cache folder, once.

    python tools/build_uvg266.py                  # prints e.g. ~/.cache/vcm/uvg266/8bit/bin/uvg266
    python tools/build_uvg266.py --bit-depth 10 --source /path/to/uvg266
    export VCM_UVG266=$(python tools/build_uvg266.py)

uvg266 (github.com/ultravideo/uvg266, BSD-3-Clause) is the only open VVC encoder with a per-CTU delta-QP map
(`--roi`), which vcm's `ctu` mode needs; no package registry ships it. The source is found at --source,
$VCM_UVG266_SOURCE, or `shared/uvg266` beside any folder above this repository. Its CMake writes into `src/`,
so the snapshot is copied to a writable folder first. The binary is linked statically (no libuvg266.so to
find at run time). A second call with the same source and options only prints the path (a stamp file holds
the source digest and options); builds of concurrent callers are serialised by a lock file.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BIT_DEPTH = 8  # docs/UVG266.md: 2.6-5.5 % fewer bytes at equal PSNR and ~1.8x faster than 10-bit

# One fix applied to the copy before building (the snapshot itself is left as it is). uvg266 (commit 87f4eb7)
# copies its config with memcpy, so encoder->cfg.roi.file_path and the caller's cfg->roi.file_path are one
# allocation, freed twice at exit (uvg_encoder_control_free, then uvg_config_destroy). glibc aborts there or
# not depending on the heap layout (the path's length): with --roi the process then dies BEFORE it closes the
# output file, and the bitstream is truncated. The fix gives the encoder its own copy of the path.
PATCHES = [("src/encoder.c",
            "  encoder->cfg.cqmfile = NULL;\n",
            "  encoder->cfg.cqmfile = NULL;\n"
            "  // vcm: own copy of the ROI path (it is freed here and in uvg_config_destroy)\n"
            "  encoder->cfg.roi.file_path = cfg->roi.file_path ? strdup(cfg->roi.file_path) : NULL;\n")]


def apply_patches(work: Path) -> None:
    for rel, old, new in PATCHES:
        p = work / rel
        text = p.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"build_uvg266: cannot apply vcm's fix to {rel} (source changed?); see PATCHES")
        p.write_text(text.replace(old, new))


def cache_root() -> Path:
    base = os.environ.get("VCM_UVG266_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vcm", "uvg266")
    return Path(base)


def binary_path(bit_depth: int = DEFAULT_BIT_DEPTH, root: Path | None = None) -> Path:
    """Where the build of this bit depth lives (whether or not it has been built)."""
    return (root or cache_root()) / f"{bit_depth}bit" / "bin" / "uvg266"


def find_source(explicit: str | None = None) -> Path | None:
    """The uvg266 source snapshot: --source, $VCM_UVG266_SOURCE, or shared/uvg266 beside a parent folder."""
    cands = [explicit, os.environ.get("VCM_UVG266_SOURCE")]
    cands += [str(p / "shared" / "uvg266") for p in [REPO, *REPO.parents]]
    for c in cands:
        if c and (Path(c) / "CMakeLists.txt").is_file() and (Path(c) / "src" / "uvg266.h").is_file():
            return Path(c).resolve()
    return None


def source_digest(src: Path) -> str:
    """sha256 over the build inputs (CMakeLists.txt and src/), names and contents."""
    h = hashlib.sha256()
    files = [src / "CMakeLists.txt"] + sorted(p for p in (src / "src").rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def build(src: Path, bit_depth: int = DEFAULT_BIT_DEPTH, root: Path | None = None, jobs: int | None = None,
          quiet: bool = True) -> Path:
    """Build (or reuse) uvg266 at `bit_depth` from `src`; returns the binary's path."""
    if bit_depth not in (8, 10):
        raise SystemExit(f"build_uvg266: bit depth {bit_depth} is not 8 or 10")
    if not shutil.which("cmake"):
        raise SystemExit("build_uvg266: cmake not found (apt-get install cmake build-essential)")
    exe = binary_path(bit_depth, root)
    folder = exe.parent.parent
    folder.mkdir(parents=True, exist_ok=True)
    stamp_path = folder / "stamp.json"
    want = {"source_digest": source_digest(src), "bit_depth": bit_depth, "static": True,
            "patches": hashlib.sha256(repr(PATCHES).encode()).hexdigest()}
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if exe.is_file() and stamp_path.is_file() and json.loads(stamp_path.read_text()) == want:
                return exe
            with tempfile.TemporaryDirectory(prefix="build-", dir=folder) as tmp:
                work = Path(tmp) / "uvg266"
                shutil.copytree(src, work, ignore=shutil.ignore_patterns("build", ".git"))
                for p in work.rglob("*"):  # a read-only snapshot copies read-only; CMake writes into src/
                    p.chmod(p.stat().st_mode | 0o200)
                apply_patches(work)
                out = None if not quiet else subprocess.DEVNULL
                cfg = ["cmake", "-S", str(work), "-B", str(work / "build"), "-DCMAKE_BUILD_TYPE=Release",
                       "-DBUILD_TESTS=OFF", "-DBUILD_SHARED_LIBS=OFF", f"-DCMAKE_C_FLAGS=-DUVG_BIT_DEPTH={bit_depth}"]
                for cmd in (cfg, ["cmake", "--build", str(work / "build"), "-j", str(jobs or os.cpu_count() or 2)]):
                    r = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True, check=False)
                    if r.returncode != 0:
                        raise SystemExit(f"build_uvg266: {' '.join(cmd[:2])} failed ({r.returncode}):\n{r.stderr[-2000:]}")
                built = work / "build" / "uvg266"
                exe.parent.mkdir(parents=True, exist_ok=True)
                tmp_exe = exe.with_name(exe.name + ".tmp")
                shutil.copy2(built, tmp_exe)
                os.replace(tmp_exe, exe)
            tmp_stamp = stamp_path.with_name("stamp.json.tmp")
            tmp_stamp.write_text(json.dumps(want, indent=1))
            os.replace(tmp_stamp, stamp_path)
            return exe
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", help="uvg266 source folder (default: $VCM_UVG266_SOURCE or ../shared/uvg266)")
    ap.add_argument("--bit-depth", type=int, default=DEFAULT_BIT_DEPTH, choices=(8, 10),
                    help=f"internal bit depth, a compile-time setting (default {DEFAULT_BIT_DEPTH})")
    ap.add_argument("--cache-dir", type=Path, help="build folder (default $VCM_UVG266_CACHE or ~/.cache/vcm/uvg266)")
    ap.add_argument("--jobs", type=int, help="parallel compile jobs (default: CPU count)")
    ap.add_argument("--verbose", action="store_true", help="show the compiler output")
    a = ap.parse_args(argv)
    src = find_source(a.source)
    if src is None:
        print("build_uvg266: no uvg266 source found; get it with `git clone https://github.com/ultravideo/uvg266` "
              "and pass --source or set VCM_UVG266_SOURCE", file=sys.stderr)
        return 2
    print(build(src, a.bit_depth, a.cache_dir, a.jobs, quiet=not a.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
