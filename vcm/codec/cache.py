"""A content-addressed encode cache, so QP sweeps, searches and re-runs never encode the same thing twice.

Key = sha256 over the raw 10-bit frames, the backend name and version, and every EncodeParams field.
Entries are `<key>.266` + `<key>.json` (the EncodeResult) + `<key>.log`, each written to a temp file and
renamed, so processes sharing the folder never see half an entry (two processes racing on one key both
write the same bytes). A size cap evicts the least recently used entries. Checking the cap scans every entry
(0.35 s at 30,000 entries), so a process scans only after storing `_slack` bytes since its last scan, or when no
process scanned for EVICT_EVERY_S (the `.evicted` stamp); the cap may be exceeded by about `_slack` per process
for a while. (Scanning on every store made `vcm label` of three 512x384 pictures take 228 s, 173 of them in the
scans, with a warm cache of 30,000 entries.) The JSON records the sha256 of the bitstream and `get`
checks it (microseconds for a few-kB stream): an entry with a flipped byte, or any entry
without the hash, is a miss and is coded again, never served.
Location: $VCM_CACHE_DIR, else ~/.cache/vcm/encodes. Cap: $VCM_CACHE_MAX_MB (default 4096). Small state files
(ffmpeg-info.json, saved tracebacks) live in `state_dir()`: $VCM_CACHE_DIR itself, else ~/.cache/vcm.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from vcm.codec.base import EncodeParams, YuvClip
from vcm.codec.colour import frame_to_bytes
from vcm.fsutil import atomic_path, state_dir, write_json_atomic  # noqa: F401 (state_dir: re-exported)
from vcm.types import EncodeResult


def default_cache_dir() -> Path:
    env = os.environ.get("VCM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "vcm" / "encodes"


def cache_dir_problem() -> str | None:
    """Why the encode cache's folder cannot be used (not a folder, cannot be created, or takes no new file),
    else None. The folder is created as the cache would create it, then a temp file is created and removed in
    it (a real probe: permission bits, read-only mounts and root all answer truthfully); nothing is written
    outside it. Checked before a command does any work (vcm/cli), not after its encodes."""
    import tempfile

    env = os.environ.get("VCM_CACHE_DIR")
    root = default_cache_dir()
    name = f"VCM_CACHE_DIR={env}" if env else f"the encode cache {root} (VCM_CACHE_DIR is not set)"
    if root.exists() and not root.is_dir():
        return f"{name}: {root} is not a folder"
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".vcm-probe-", dir=root)
        os.close(fd)
        os.unlink(tmp)
    except (NotADirectoryError, FileExistsError):
        return f"{name}: a part of {root} is a file, not a folder"
    except OSError as e:
        return f"{name}: {root} cannot be created or takes no new file ({e.strerror or type(e).__name__})"
    return None


def check_cache_dir(use_cache: bool = True) -> None:
    """Refuse a cache folder that cannot be written, naming the variable and --no-cache; with the cache off,
    a warning (the encode cache is not used; vcm's logs and saved tracebacks are then not kept)."""
    import logging

    from vcm.errors import VcmError

    why = cache_dir_problem()
    if why is None:
        return
    if not use_cache:
        logging.getLogger(__name__).warning("warning: %s: running without it (--no-cache); encoder logs and "
                                            "tracebacks are not kept", why)
        return
    raise VcmError(why, fix="set VCM_CACHE_DIR to a writable folder (or unset it), or run with --no-cache "
                            "(vcm encode, vcm vvc encode)")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clip_digest(clip: YuvClip) -> str:
    h = hashlib.sha256()
    for fr in clip.frames:
        h.update(f"{fr.width}x{fr.height};".encode())
        h.update(frame_to_bytes(fr))
    h.update(f"fps={clip.fps!r};matrix={clip.matrix};".encode())  # the matrix is signalled in the stream
    return h.hexdigest()


def cache_key(clip_hash: str, backend: str, version: str, params: EncodeParams) -> str:
    blob = json.dumps({"clip": clip_hash, "backend": backend, "version": version, "params": params.to_json()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


EVICT_EVERY_S = 600  # a full scan at least this often (many short processes, each adding little)
_ADDED: dict[str, int] = {}  # cache folder -> bytes this process stored since its last scan of it


def _slack(max_bytes: int) -> int:
    """Bytes a process may add before it scans the folder again: 1/64 of the cap, at least 1 MiB."""
    return max(1 << 20, max_bytes // 64)


class EncodeCache:
    def __init__(self, root: str | Path | None = None, max_mb: float | None = None):
        self.root = Path(root) if root else default_cache_dir()
        self.max_bytes = int((max_mb if max_mb is not None else float(os.environ.get("VCM_CACHE_MAX_MB", 4096)))
                             * 1024 * 1024)

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.266", d / f"{key}.json", d / f"{key}.log"

    def get(self, key: str) -> EncodeResult | None:
        bs, meta, log = self._paths(key)
        if not (bs.exists() and meta.exists()):
            return None
        try:
            doc = json.loads(meta.read_text())
            res = EncodeResult.from_json(doc)
            if bs.stat().st_size != res.bytes or doc.get("bitstream_sha256") != _sha256(bs):
                return None  # damaged (or written by an older vcm without a hash): code it again
        except (ValueError, KeyError, TypeError, OSError, AttributeError):
            return None
        os.utime(bs)  # recently used
        res.bitstream, res.log_path, res.cached = bs, (log if log.exists() else None), True
        return res

    def put(self, key: str, result: EncodeResult) -> EncodeResult:
        """Store a finished encode; returns the result pointing at the cached files."""
        bs, meta, log = self._paths(key)
        bs.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(bs) as tmp:
            shutil.copyfile(result.bitstream, tmp)
        if result.log_path and Path(result.log_path).exists():
            with atomic_path(log) as tmp:
                shutil.copyfile(result.log_path, tmp)
        stored = EncodeResult.from_json(result.to_json())
        stored.bitstream, stored.log_path = bs, (log if log.exists() else None)
        write_json_atomic(meta, dict(stored.to_json(), bitstream_sha256=_sha256(bs)))
        self._maybe_evict(stored.bytes)
        return stored

    def _maybe_evict(self, added: int) -> None:
        """`evict` when this process added `_slack` bytes since its last scan or the last scan (any process's)
        is EVICT_EVERY_S old; else one stat of the stamp."""
        key = str(self.root)
        _ADDED[key] = _ADDED.get(key, 0) + int(added)
        try:
            age = time.time() - (self.root / ".evicted").stat().st_mtime
        except OSError:
            age = float("inf")
        if _ADDED[key] >= _slack(self.max_bytes) or age >= EVICT_EVERY_S:
            self.evict()

    def evict(self) -> None:
        """Drop least recently used entries while the cache is over its cap (a scan of every entry; stamps
        `.evicted`)."""
        entries = []
        total = 0
        _ADDED[str(self.root)] = 0
        if not self.root.is_dir():
            return
        (self.root / ".evicted").touch()
        for sub in os.scandir(self.root):
            if not sub.is_dir():
                continue
            for f in os.scandir(sub.path):
                if not f.name.endswith(".266"):
                    continue
                try:
                    st = f.stat()
                except FileNotFoundError:
                    continue
                total += st.st_size
                entries.append((st.st_mtime, st.st_size, Path(f.path)))
        if total <= self.max_bytes:
            return
        for _, size, p in sorted(entries):
            for q in (p, p.with_suffix(".json"), p.with_suffix(".log")):
                q.unlink(missing_ok=True)
            total -= size
            if total <= self.max_bytes:
                break
