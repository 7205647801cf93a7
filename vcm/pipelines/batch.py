"""`vcm batch`: every picture and video under a folder coded into a mirrored output folder, with a manifest.

One function codes one item (`process_item`); the local executor runs it in this process or in a process
pool, the Ray executor runs the same function as Ray tasks. The detector and predictors are built once per
worker process (`_worker_state`) and reused for every item it codes.

Resumable: each finished item leaves OUT_DIR/.vcm-batch/<key>.json (written atomically after its output) with
a fingerprint of its input (path, size, mtime, sha256 of files up to 64 MiB) and of the settings; a rerun
marks items whose fingerprint matches and whose output is still there as `skipped`. manifest.csv is rewritten
atomically after every item, so a killed run loses nothing it finished. Inputs are only ever read.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from vcm.errors import VcmError
from vcm.settings import CodingSettings
from vcm.fsutil import write_bytes_atomic, write_json_atomic
from vcm.runner import EXECUTORS, check_executor, digest, load_record, remove_stale_temps, run_tasks

# bytes: the file written; plain_bytes: the plain VVC `vcm encode` compares with (what a batch user would
# have paid; a video: plain random access at the lowest QP it uses); saving: 1 - bytes / plain_bytes in per cent; detected / to_keep / kept / lost: the object counts
# of `vcm encode` (vcm.pipelines.encode.object_counts; a video: summed over its detected frames)
MANIFEST_FIELDS = ("input", "output", "status", "bytes", "plain_bytes", "saving", "detected", "to_keep", "kept",
                   "lost", "seconds", "error")
COUNTS = ("detected", "to_keep", "kept", "lost")
STATE_DIR = ".vcm-batch"
HASH_LIMIT = 64 << 20  # inputs up to this size are also identified by their sha256


@dataclass
class BatchConfig:
    """The coding settings of every item (the settings part of each item's fingerprint) plus how to run."""

    in_dir: Path
    out_dir: Path
    coding: CodingSettings = CodingSettings()
    workers: int = 1
    executor: str = "local"
    ray_address: str | None = None
    progress: bool = True

    def __post_init__(self):
        self.in_dir, self.out_dir = Path(self.in_dir), Path(self.out_dir)
        if self.workers < 1:
            raise VcmError(f"--workers {self.workers} is not a positive number", fix="use --workers 1 or more")
        if self.executor not in EXECUTORS:
            raise VcmError(f"unknown executor {self.executor!r}", fix="use --executor local or ray")
        self.coding = self.coding.replace(compare_plain=False)  # batch reports bytes, not a comparison

    def settings(self) -> dict[str, Any]:
        return self.coding.output_settings() | {"check": self.coding.check}


@dataclass(frozen=True)
class BatchItem:
    input: str  # path relative to IN_DIR (posix)
    output: str  # path relative to OUT_DIR
    kind: str  # "picture" or "video"


@dataclass
class ItemResult:
    input: str
    output: str
    status: str  # ok, failed, skipped
    bytes: int | None = None
    plain_bytes: int | None = None
    saving: float | None = None  # per cent
    detected: int | None = None
    to_keep: int | None = None
    kept: int | None = None
    lost: int | None = None
    seconds: float | None = None
    error: str = ""
    fingerprint: str = ""
    report: dict[str, Any] = field(default_factory=dict, repr=False)

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in MANIFEST_FIELDS}


# -------------------------------------------------------------------------------------------------- listing
def list_items(in_dir: Path, out_dir: Path | None = None) -> list[BatchItem]:
    """Every picture and video under IN_DIR (recursive, hidden files and folders left out, OUT_DIR left out),
    sorted; outputs mirror the inputs with the suffix .266 (`name.ext.266` where two inputs would collide)."""
    from vcm.media import PICTURE_EXTS, VIDEO_EXTS

    if not in_dir.is_dir():
        raise VcmError("no such folder", path=in_dir, fix="give a folder of pictures and videos")
    skip = out_dir.resolve() if out_dir is not None else None
    root_real = in_dir.resolve()
    found = []
    for root, dirs, files in os.walk(in_dir):
        r = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or (r / d).resolve() != skip))
        for f in files:
            ext = Path(f).suffix.lower()
            if f.startswith(".") or ext not in PICTURE_EXTS | VIDEO_EXTS:
                continue
            kind = "picture" if ext in PICTURE_EXTS else "video"
            if (r / f).is_symlink():  # never read a file outside IN_DIR through a link (reported as failed)
                try:
                    target = (r / f).resolve(strict=True)
                    kind = kind if root_real in target.parents else "outside"
                except (OSError, RuntimeError):  # dangling link or a loop
                    kind = "outside"
            found.append(((r / f).relative_to(in_dir), kind))
    found.sort(key=lambda x: x[0].as_posix())
    outs = _output_names([rel for rel, _ in found])
    return [BatchItem(rel.as_posix(), out, kind) for (rel, kind), out in zip(found, outs)]


def _output_names(rels: list[Path]) -> list[str]:
    """`dir/name.266` for each input, `dir/name.ext.266` (the full input name) for every input whose short name
    any other input's output would also take (compared case-insensitively). Full names of distinct inputs never
    collide, so this ends; it depends only on the set of inputs, so reruns give the same names."""
    short = {i: rel.with_suffix(".266").as_posix() for i, rel in enumerate(rels)}
    full = {i: rel.as_posix() + ".266" for i, rel in enumerate(rels)}
    outs = dict(short)
    while True:
        users: dict[str, list[int]] = {}
        for i, o in outs.items():
            users.setdefault(o.casefold(), []).append(i)
        clash = [i for group in users.values() if len(group) > 1 for i in group if outs[i] != full[i]]
        if not clash:
            return [outs[i] for i in range(len(rels))]
        for i in clash:
            outs[i] = full[i]


def input_fingerprint(path: Path, settings: dict[str, Any], name: str | None = None) -> str:
    """What makes an item's output valid: its input (path inside IN_DIR, size, mtime, sha256 up to 64 MiB) and
    the settings."""
    from vcm.fsutil import sha256_file

    st = path.stat()
    ident = {"path": name or str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "sha256": sha256_file(path) if st.st_size <= HASH_LIMIT else None, "settings": settings}
    return digest(ident)


def _state_path(out_dir: Path, item: BatchItem) -> Path:
    return out_dir / STATE_DIR / (hashlib.sha256(item.input.encode()).hexdigest()[:16] + ".json")


def finished(cfg: BatchConfig, item: BatchItem, fingerprint: str) -> ItemResult | None:
    """The recorded result of an item done earlier with the same input and settings, if its output is intact."""
    doc = load_record(_state_path(cfg.out_dir, item), fingerprint)
    out = cfg.out_dir / item.output
    if doc is None or doc.get("status") != "ok":
        return None
    if not out.is_file() or out.stat().st_size != doc.get("bytes"):
        return None
    r = ItemResult(**{k: doc.get(k) for k in MANIFEST_FIELDS if k != "status"}, status="skipped",
                   fingerprint=fingerprint)
    r.error = ""
    return r


# ---------------------------------------------------------------------------------------------------- worker
_STATE: dict[str, Any] = {}


def _worker_state(cfg: BatchConfig) -> dict[str, Any]:
    """The detector and predictors of this worker process, built on first use and kept for every item."""
    key = json.dumps({"detector": asdict(cfg.coding.detector_settings), "encoder": cfg.coding.encoder},
                     sort_keys=True)
    if _STATE.get("key") != key:
        from vcm.detect import build_detector

        _STATE.clear()
        _STATE.update(key=key, detector=build_detector(cfg.coding), predictors={}, pid=os.getpid(), items=0)
    _STATE["items"] += 1
    return _STATE


def process_item(cfg: BatchConfig, item: BatchItem) -> ItemResult:
    """Code one item (in whichever process runs it); every failure becomes a `failed` result, never an exception."""
    t0 = time.perf_counter()
    src, out = cfg.in_dir / item.input, cfg.out_dir / item.output
    fp = ""
    try:
        fp = input_fingerprint(src, cfg.settings(), item.input)
        state = _worker_state(cfg)
        if item.kind == "video":
            from vcm.pipelines.video import run_encode_video

            rep = run_encode_video(src, out, cfg.coding, detector=state["detector"], predictors=state["predictors"])
            counts = rep.object_counts()
            plain = rep.plain["bytes"] if rep.plain else None
        else:
            from vcm.pipelines.encode import object_counts, plain_reference, run_encode

            coding = cfg.coding.replace(mode="objects") if cfg.coding.intra else cfg.coding
            rep = run_encode(src, out, coding.replace(**{k: getattr(CodingSettings(), k)
                                                         for k in coding.video_only_given()}),
                             detector=state["detector"])
            counts = object_counts(rep)
            ref = plain_reference(rep)
            plain = ref["bytes"] if ref else None
        report = rep.to_json()
        size = out.stat().st_size
        saving = round(100.0 * (1.0 - size / plain), 1) if plain else None
        res = ItemResult(item.input, item.output, "ok", size, plain, saving, *(counts[k] for k in COUNTS),
                         seconds=round(time.perf_counter() - t0, 3), fingerprint=fp, report=report)
    except VcmError as e:
        res = ItemResult(item.input, item.output, "failed", seconds=round(time.perf_counter() - t0, 3),
                         error=str(e), fingerprint=fp)
    except Exception as e:  # noqa: BLE001 - one bad item must not stop the batch; the error is recorded
        res = ItemResult(item.input, item.output, "failed", seconds=round(time.perf_counter() - t0, 3),
                         error=f"{type(e).__name__}: {e}".replace("\n", " ")[:500], fingerprint=fp)
    res.report["worker_pid"] = os.getpid()
    write_json_atomic(_state_path(cfg.out_dir, item), {**asdict(res), "report": None})
    return res


# ------------------------------------------------------------------------------------------------- executors
def _crashed(item: BatchItem, e: Exception) -> ItemResult:
    return ItemResult(item.input, item.output, "failed",
                      error=f"worker died: {type(e).__name__}: {e}".replace("\n", " ")[:500])

def _process_task(task: tuple[BatchConfig, BatchItem]) -> ItemResult:
    return process_item(*task)


def _run(cfg: BatchConfig, todo: list[BatchItem], done: Callable[[ItemResult], None]) -> None:
    """The shared runner (vcm.runner): local processes or Ray tasks; each worker builds the detector once."""
    run_tasks(_process_task, [(cfg, it) for it in todo], workers=cfg.workers,
              done=lambda task, r: (done(r), f"{r.status} {r.input}")[1],
              failed=lambda task, e: _crashed(task[1], e), progress=cfg.progress, unit="item", what="items",
              executor=cfg.executor, ray_address=cfg.ray_address)



# ---------------------------------------------------------------------------------------------------- manifest
def manifest_text(results: Iterable[ItemResult]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in sorted(results, key=lambda r: r.input):
        w.writerow({k: ("" if v is None else v) for k, v in r.row().items()})
    return buf.getvalue()


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@dataclass
class BatchReport:
    """What `vcm batch` did over a folder; `to_json()` is OUT_DIR/summary.json."""

    items: int
    ok: int
    failed: int
    skipped: int  # finished before with the same input and settings
    bytes: int  # of every output written or kept
    plain_bytes: int | None  # plain VVC for the same items (None when an item has no plain comparison)
    saving: float | None  # 1 - bytes / plain_bytes, per cent, over the items that have both
    detected: int  # object counts summed over the items (see MANIFEST_FIELDS)
    to_keep: int
    kept: int | None  # None when no item was checked
    lost: int | None
    seconds: float
    items_per_minute: float | None
    failed_items: list[dict[str, str]]  # input, error
    settings: dict[str, Any] = field(default_factory=dict)
    executor: str = "local"
    workers: int = 1
    format: str = "vcm-batch/1"
    worker_pids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize(results: list[ItemResult], seconds: float, **run: Any) -> BatchReport:
    """The counts over the items' results; `run`: settings, executor, workers, worker_pids."""
    by = {s: sum(r.status == s for r in results) for s in ("ok", "failed", "skipped")}
    coded = [r for r in results if r.status == "ok"]
    good = [r for r in results if r.status != "failed"]
    both = [r for r in good if r.bytes and r.plain_bytes]
    plain = sum(r.plain_bytes for r in both) if both and len(both) == len(good) else None
    saving = round(100.0 * (1.0 - sum(r.bytes for r in both) / sum(r.plain_bytes for r in both)), 1) if both else None

    def total(k: str) -> int | None:
        """The sum over the coded items; kept/lost only when known for every item with objects to keep."""
        if k in ("kept", "lost") and any(getattr(r, k) is None and r.to_keep for r in good):
            return None
        return sum(getattr(r, k) or 0 for r in good)

    return BatchReport(len(results), by["ok"], by["failed"], by["skipped"],
                       sum(r.bytes or 0 for r in good), plain, saving, total("detected") or 0, total("to_keep") or 0,
                       total("kept"), total("lost"), round(seconds, 2),
                       round(60.0 * len(coded) / seconds, 2) if coded and seconds > 0 else None,
                       [{"input": r.input, "error": r.error} for r in results if r.status == "failed"], **run)


def run_batch(cfg: BatchConfig, echo: Callable[[str], None] = print) -> BatchReport:
    """Code every item (skipping finished ones), keep manifest.csv current, write summary.json (the report's
    `to_json()`); returns the report."""
    items = list_items(cfg.in_dir, cfg.out_dir)
    if not items:
        raise VcmError("no pictures or videos in this folder", path=cfg.in_dir,
                       fix="give a folder holding png/jpg/... pictures or mp4/mkv/... videos")
    check_executor(cfg.executor, cfg.ray_address)  # a bad --executor/--ray-address: before anything is written
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(cfg.out_dir)
    t0 = time.perf_counter()
    settings = cfg.settings()
    results: dict[str, ItemResult] = {}
    todo = []
    for it in items:
        if it.kind == "outside":
            results[it.input] = ItemResult(it.input, it.output, "failed", error=f"{cfg.in_dir / it.input}: a link "
                                           "to a file outside IN_DIR (or a broken link): not read. Fix: copy the "
                                           "file into the folder")
            continue
        try:
            prev = finished(cfg, it, input_fingerprint(cfg.in_dir / it.input, settings, it.input))
        except OSError:
            prev = None
        if prev is not None:
            results[it.input] = prev
        else:
            todo.append(it)
    manifest = cfg.out_dir / "manifest.csv"

    def save() -> None:
        write_bytes_atomic(manifest, manifest_text(results.values()).encode())

    save()

    def done(r: ItemResult) -> None:
        results[r.input] = r
        save()

    _run(cfg, todo, done)
    report = summarize(list(results.values()), time.perf_counter() - t0, settings=settings, executor=cfg.executor,
                       workers=cfg.workers, worker_pids=sorted({r.report.get("worker_pid") for r in results.values()
                                                                if r.report.get("worker_pid")}))
    write_json_atomic(cfg.out_dir / "summary.json", report.to_json())
    return report


def format_summary(s: BatchReport) -> list[str]:
    """What `vcm batch` prints at the end: the counts, then one line per failed item."""
    rate = f", {s.items_per_minute:.1f} items/min" if s.items_per_minute else ""
    vs = (f" ({s.saving:.1f} % less than plain VVC, {s.plain_bytes} bytes)" if s.plain_bytes and s.saving is not None
          else f" ({s.saving:.1f} % less than plain VVC where compared)" if s.saving is not None else "")
    kept = f", {s.kept} still detected, {s.lost} lost" if s.kept is not None else " (still detected: --check)"
    lines = [f"{s.items} items: {s.ok} ok, {s.skipped} skipped (done before), {s.failed} failed; "
             f"{s.bytes} bytes{vs}; objects: {s.detected} detected, {s.to_keep} to keep{kept}; "
             f"{s.seconds:.1f} s{rate}"]
    lines += [f"  failed: {f['input']}: {f['error']}" for f in s.failed_items]
    return lines
