"""The one resumable job runner of `vcm label`, `vcm benchmark` and `vcm batch`.

A job is a list of tasks and a function that does one task and stores its own result atomically (a `.work`
record with the fingerprint of what made it: `digest()`); a rerun loads the records whose fingerprint still
matches (`load_record()`) and runs only the rest. `run_tasks()` runs them in this process or in a pool of
spawned worker processes (each built once by `initializer`), with a bounded queue so an interrupt loses only
the tasks in flight, a progress bar, SIGTERM treated like Ctrl-C (workers are stopped, not orphaned), and a
worker that dies reported for its task instead of ending the run.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from vcm.errors import VcmError


def digest(obj: Any, n: int = 24) -> str:
    """A stable short hash of a JSON-able object: the fingerprint of a task's inputs and settings."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def load_record(path: Path, fingerprint: str | None = None) -> dict[str, Any] | None:
    """A task's stored record, if readable and (when given) made with this fingerprint."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    return doc if fingerprint is None or doc.get("fingerprint") == fingerprint else None


def remove_stale_temps(folder: Path) -> None:
    """Temporary files a killed run left behind (vcm.fsutil.atomic_path names them `.NAME.XXXX.tmpEXT`)."""
    for root, _dirs, files in os.walk(folder):
        for f in files:
            if f.startswith(".") and ".tmp" in f:
                Path(root, f).unlink(missing_ok=True)


_ACTIVE: list["Progress"] = []


def note(line: str) -> None:
    """Print a line to stderr above the running progress bar (e.g. a failed task, at once: runs are long)."""
    if _ACTIVE and _ACTIVE[-1].bar is not None:
        _ACTIVE[-1].write(line)
    else:
        print(line, file=sys.stderr)


class Progress:
    """A tqdm bar on stderr (or nothing): `step(text)` after each task, `write(line)` for a message."""

    def __init__(self, total: int, enabled: bool, unit: str, desc: str | None = None):
        self.bar = None
        if enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False)

    def step(self, text: str = "") -> None:
        if self.bar is not None:
            if text:
                self.bar.set_postfix_str(text[-40:])
            self.bar.update(1)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _sigterm_as_interrupt() -> Callable[[], None]:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, old)


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], *, workers: int = 1,
              initializer: Callable[..., None] | None = None, initargs: Iterable[Any] = (),
              done: Callable[[Any, Any], str | None] = lambda task, result: None,
              failed: Callable[[Any, BaseException], Any] | None = None,
              progress: bool = True, unit: str = "task", desc: str | None = None, what: str = "tasks",
              resume_hint: str = "run the same command again to go on where it stopped") -> None:
    """Run `fn(task)` for every task; `done(task, result)` gets each result as it comes (its return value is
    shown beside the bar). `fn` must store what it finished itself: an interrupt raises a VcmError (exit 130)
    saying so. With `workers` > 1, tasks run in spawned processes set up by `initializer(*initargs)`; in this
    process `initializer` runs once first. A task whose worker died goes to `failed(task, error)` (without
    `failed`, the error is raised)."""
    tasks = list(tasks)
    workers = max(1, min(int(workers), len(tasks) or 1))
    bar = Progress(len(tasks), progress, unit, desc)
    _ACTIVE.append(bar)
    finished = 0

    def finish(task, result) -> None:
        nonlocal finished
        finished += 1
        bar.step(done(task, result) or "")

    restore = _sigterm_as_interrupt()
    try:
        if workers == 1:
            if initializer is not None and tasks:
                initializer(*initargs)
            for t in tasks:
                finish(t, fn(t))
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=initializer,
                                     initargs=tuple(initargs)) as pool:
                queue, pending = list(tasks), {}
                try:
                    while queue or pending:
                        while queue and len(pending) < 2 * workers:  # bounded: an interrupt loses little
                            t = queue.pop(0)
                            pending[pool.submit(fn, t)] = t
                        ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for f in ready:
                            t = pending.pop(f)
                            try:
                                r = f.result()
                            except Exception as e:  # noqa: BLE001 - a worker that died (killed, out of memory)
                                if failed is None:
                                    raise
                                r = failed(t, e)
                            finish(t, r)
                except BaseException:
                    procs = list((getattr(pool, "_processes", None) or {}).values())
                    pool.shutdown(wait=False, cancel_futures=True)
                    for proc in procs:  # stop the workers: only the tasks in progress are lost
                        proc.terminate()
                    raise
    except KeyboardInterrupt:
        bar.close()
        err = VcmError(f"interrupted after {finished} of {len(tasks)} {what}; what was finished is kept",
                       fix=resume_hint)
        err.exit_code = 130  # the shell's code for Ctrl-C
        raise err from None
    finally:
        restore()
        bar.close()
        _ACTIVE.remove(bar)
