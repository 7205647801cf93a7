"""What tools/build_uvg266.py and tools/build_vtm.py share (not a script): copy a read-only source snapshot to a
writable folder, apply vcm's source patches, run CMake, and install the programs into vcm's build cache once -
a stamp (source digest, options, patches) makes a second call free, a lock file serialises concurrent callers.

Stdlib only: `make uvg266` / `make vtm` run it with the system python3, without vcm installed. The cache
folders come from vcm/codec/builds.py (loaded by path), the one place the backends also read them from.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]


def _builds_module():
    spec = importlib.util.spec_from_file_location("vcm_codec_builds", REPO / "vcm" / "codec" / "builds.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cache_root = _builds_module().cache_root  # cache_root("vtm") -> ~/.cache/vcm/vtm ($VCM_VTM_CACHE)


def shared_source(name: str, explicit: str | None, env_var: str, marker: Sequence[str]) -> Path | None:
    """A source snapshot: `explicit`, $env_var, or shared/<name> beside this repository or a folder above it;
    the first folder holding every `marker` file."""
    cands = [explicit, os.environ.get(env_var)] + [str(p / "shared" / name) for p in [REPO, *REPO.parents]]
    for c in cands:
        if c and all((Path(c) / m).is_file() for m in marker):
            return Path(c).resolve()
    return None


def source_digest(src: Path, files: Iterable[Path]) -> str:
    """sha256 over the build inputs (names relative to `src`, and contents)."""
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def patches_digest(patches) -> str:
    return hashlib.sha256(repr(patches).encode()).hexdigest()


def apply_patches(work: Path, patches, tool: str) -> None:
    """Each patch (file, old, new[, count]) replaces `old`, which must occur exactly `count` times (default 1);
    (file, None, text) creates a file."""
    for rel, old, new, *count in patches:
        p = work / rel
        if old is None:
            if p.exists():
                raise SystemExit(f"{tool}: {rel} already exists in the source (source changed?); see PATCHES")
            p.write_text(new)
            continue
        text = p.read_text()
        want = count[0] if count else 1
        if text.count(old) != want:
            raise SystemExit(f"{tool}: cannot apply vcm's patch to {rel} (found {text.count(old)} of {want} "
                             "places; source changed?); see PATCHES")
        p.write_text(text.replace(old, new))


def copy_source(src: Path, work: Path, ignore: Sequence[str] = ("build", ".git")) -> None:
    """Copy the snapshot (CMake writes into the source tree; shared/ is read-only), writable, without the
    top-level folders named in `ignore`."""
    top = Path(src).resolve()
    shutil.copytree(src, work, ignore=lambda d, names: [n for n in names if n in ignore and Path(d).resolve() == top])
    for p in work.rglob("*"):
        p.chmod(p.stat().st_mode | 0o200)


def run_steps(cmds: Sequence[list[str]], tool: str, quiet: bool = True) -> None:
    """Run the configure/build commands in order; a failure exits with the command's last error lines."""
    if not shutil.which("cmake"):
        raise SystemExit(f"{tool}: cmake not found (apt-get install cmake build-essential)")
    out = subprocess.DEVNULL if quiet else None
    for cmd in cmds:
        r = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True, check=False)
        if r.returncode != 0:
            raise SystemExit(f"{tool}: {' '.join(cmd[:2])} failed ({r.returncode}):\n{r.stderr[-2000:]}")


def build_once(folder: Path, want: dict, products: Sequence[Path], make: Callable[[Path], Sequence[Path]]) -> bool:
    """Install `products` into `folder` unless they exist with a stamp equal to `want`. `make(tmp)` builds in a
    temporary folder under `folder` and returns the built files, in the order of `products`; each is copied
    into place atomically, then the stamp. Returns True when it built."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp_path = folder / "stamp.json"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            built = all(p.is_file() for p in products) and stamp_path.is_file()
            if built and json.loads(stamp_path.read_text()) == want:
                return False
            with tempfile.TemporaryDirectory(prefix="build-", dir=folder) as tmp:
                built = make(Path(tmp))
                for src, dst in zip(built, products):
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    tmp_dst = dst.with_name(dst.name + ".tmp")
                    shutil.copy2(src, tmp_dst)
                    os.replace(tmp_dst, dst)
            tmp_stamp = stamp_path.with_name("stamp.json.tmp")
            tmp_stamp.write_text(json.dumps(want, indent=1))
            os.replace(tmp_stamp, stamp_path)
            return True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def parse_args(argv, doc: str, name: str, clone: str, find_source: Callable[[str | None], Path | None],
               more: Callable[[argparse.ArgumentParser], None] = lambda ap: None):
    """A builder's command line (--source --cache-dir --jobs --verbose, and `more`): (args, source folder), the
    folder None (and the reason printed) when no source is found."""
    env = name.upper()
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--source", help=f"{name} source folder (default: $VCM_{env}_SOURCE or ../shared/{name})")
    more(ap)
    ap.add_argument("--cache-dir", type=Path, help=f"build folder (default $VCM_{env}_CACHE or ~/.cache/vcm/{name})")
    ap.add_argument("--jobs", type=int, help="parallel compile jobs (default: CPU count)")
    ap.add_argument("--verbose", action="store_true", help="show the compiler output")
    a = ap.parse_args(argv)
    src = find_source(a.source)
    if src is None:
        print(f"build_{name}: no {name} source found; get it with `git clone {clone}` and pass --source or set "
              f"VCM_{env}_SOURCE", file=sys.stderr)
    return a, src
