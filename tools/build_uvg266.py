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

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cmake_build import (apply_patches as _apply, build_once, cache_root as _cache_root, copy_source,  # noqa: E402
                          parse_args, patches_digest, run_steps, shared_source, source_digest as _digest)

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
    _apply(work, PATCHES, "build_uvg266")


def cache_root() -> Path:
    return _cache_root("uvg266")


def binary_path(bit_depth: int = DEFAULT_BIT_DEPTH, root: Path | None = None) -> Path:
    """Where the build of this bit depth lives (whether or not it has been built)."""
    return (root or cache_root()) / f"{bit_depth}bit" / "bin" / "uvg266"


def find_source(explicit: str | None = None) -> Path | None:
    """The uvg266 source snapshot: --source, $VCM_UVG266_SOURCE, or shared/uvg266 beside a parent folder."""
    return shared_source("uvg266", explicit, "VCM_UVG266_SOURCE", ("CMakeLists.txt", "src/uvg266.h"))


def source_digest(src: Path) -> str:
    """sha256 over the build inputs (CMakeLists.txt and src/), names and contents."""
    return _digest(src, [src / "CMakeLists.txt"] + sorted(p for p in (src / "src").rglob("*") if p.is_file()))


def build(src: Path, bit_depth: int = DEFAULT_BIT_DEPTH, root: Path | None = None, jobs: int | None = None,
          quiet: bool = True) -> Path:
    """Build (or reuse) uvg266 at `bit_depth` from `src`; returns the binary's path."""
    if bit_depth not in (8, 10):
        raise SystemExit(f"build_uvg266: bit depth {bit_depth} is not 8 or 10")
    exe = binary_path(bit_depth, root)
    want = {"source_digest": source_digest(src), "bit_depth": bit_depth, "static": True,
            "patches": patches_digest(PATCHES)}

    def make(tmp: Path) -> list[Path]:
        work = tmp / "uvg266"
        copy_source(src, work)
        apply_patches(work)
        cfg = ["cmake", "-S", str(work), "-B", str(work / "build"), "-DCMAKE_BUILD_TYPE=Release",
               "-DBUILD_TESTS=OFF", "-DBUILD_SHARED_LIBS=OFF", f"-DCMAKE_C_FLAGS=-DUVG_BIT_DEPTH={bit_depth}"]
        run_steps([cfg, ["cmake", "--build", str(work / "build"), "-j", str(jobs or os.cpu_count() or 2)]],
                  "build_uvg266", quiet)
        return [work / "build" / "uvg266"]

    build_once(exe.parent.parent, want, [exe], make)
    return exe


def main(argv: list[str] | None = None) -> int:
    def bit_depth(ap):
        ap.add_argument("--bit-depth", type=int, default=DEFAULT_BIT_DEPTH, choices=(8, 10),
                        help=f"internal bit depth, a compile-time setting (default {DEFAULT_BIT_DEPTH})")

    a, src = parse_args(argv, __doc__, "uvg266", "https://github.com/ultravideo/uvg266", find_source, bit_depth)
    if src is None:
        return 2
    print(build(src, a.bit_depth, a.cache_dir, a.jobs, quiet=not a.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
