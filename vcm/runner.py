"""The one resumable job runner of `vcm label`, `vcm benchmark` and `vcm batch`.

A job is a list of tasks and a function that does one task and stores its own result atomically (a `.work`
record with the fingerprint of what made it: `digest()`); a rerun loads the records whose fingerprint still
matches (`load_record()`) and runs only the rest. `run_tasks()` runs them in this process, in a pool of
spawned worker processes, or as Ray tasks (`executor="ray"`: a local Ray, or the cluster at `ray_address`);
each worker process is set up once by `initializer`. A bounded queue means an interrupt loses only the tasks in
flight; a progress bar; SIGTERM treated like Ctrl-C (workers are stopped, not orphaned); a worker that dies is
reported for its task instead of ending the run. With Ray, the task function and its tasks are pickled by
reference: every node must have the same vcm installed (and the files the tasks name).
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

EXECUTORS = ("local", "ray")


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


def check_ray_address(address: str, timeout: float = 5.0) -> None:
    """A host:port (or ray://host:port) that does not answer is an error within seconds: Ray itself retries an
    unreachable cluster for minutes, printing its own log lines. `auto` and other forms are left to Ray."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        why = e.strerror or type(e).__name__ if not isinstance(e, socket.timeout) else f"no answer in {timeout:g} s"
        raise VcmError(f"cannot reach the Ray cluster at {address} ({why})",
                       fix="check --ray-address (host:port of a running `ray start --head`), or drop it to start "
                           "a local Ray") from None


def check_executor(executor: str, ray_address: str | None) -> None:
    """Bad --executor / --ray-address: a one-line error before anything is written."""
    if executor not in EXECUTORS:
        raise VcmError(f"unknown executor {executor!r}", fix="use --executor local or ray")
    if ray_address and executor != "ray":
        raise VcmError("--ray-address needs --executor ray", fix="add --executor ray, or drop --ray-address")
    if executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise VcmError("the ray executor needs Ray", fix="pip install 'vcm[ray]' (or pip install ray)") from None
        if ray_address:
            check_ray_address(ray_address)


_RAY_READY: set[str] = set()  # runs whose initializer already ran in this (Ray worker) process


def _ray_call(run_id: str, shared: tuple, task):
    """One task in a Ray worker process: the run's initializer once per process (Ray reuses them), then fn.
    `shared` is (initializer, initargs, fn), put into Ray's object store once per run."""
    initializer, initargs, fn = shared
    if initializer is not None and run_id not in _RAY_READY:
        initializer(*initargs)
        _RAY_READY.add(run_id)
    return fn(task)


def _bounded(tasks, workers: int, submit, ready, result, finish, failed, stop) -> None:
    """Keep at most 2 x workers tasks in flight (an interrupt loses little): `submit(task)` -> handle, `ready(handles)`
    -> the finished ones, `result(handle)`; a task whose worker died goes to `failed`; on any exception (an
    interrupt) `stop(pending handles)` before it propagates. The one loop of the process pool and of Ray."""
    queue, pending = list(tasks), {}
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                t = queue.pop(0)
                pending[submit(t)] = t
            for h in ready(list(pending)):
                t = pending.pop(h)
                try:
                    r = result(h)
                except Exception as e:  # noqa: BLE001 - a worker that died (killed, out of memory)
                    if failed is None:
                        raise
                    r = failed(t, e)
                finish(t, r)
    except BaseException:
        stop(list(pending))
        raise


def _ray_start(workers: int, ray_address: str | None) -> bool:
    """ray.init (a local Ray with `workers` CPUs, or the cluster); True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    try:
        if ray_address:
            ray.init(address=ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    except Exception as e:  # noqa: BLE001 - connection errors come in many types
        raise VcmError(f"cannot start or reach Ray ({type(e).__name__}: {e})".replace("\n", " ")[:300],
                       fix="check --ray-address (host:port of a running `ray start --head`)") from None
    return True


def _run_ray(fn, tasks, workers, initializer, initargs, finish, failed, ray_address) -> None:
    import uuid

    import ray

    started = _ray_start(workers, ray_address)
    try:
        call = ray.remote(num_cpus=1, max_retries=0)(_ray_call)
        run_id = uuid.uuid4().hex
        shared = ray.put((initializer, tuple(initargs), fn))
        _bounded(tasks, workers, lambda t: call.remote(run_id, shared, t),
                 lambda handles: ray.wait(handles, num_returns=1)[0], ray.get, finish, failed,
                 lambda handles: [ray.cancel(ref, force=True) for ref in handles])
    finally:
        if started:
            ray.shutdown()


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], *, workers: int = 1,
              initializer: Callable[..., None] | None = None, initargs: Iterable[Any] = (),
              done: Callable[[Any, Any], str | None] = lambda task, result: None,
              failed: Callable[[Any, BaseException], Any] | None = None,
              progress: bool = True, unit: str = "task", desc: str | None = None, what: str = "tasks",
              resume_hint: str = "run the same command again to go on where it stopped",
              executor: str = "local", ray_address: str | None = None) -> None:
    """Run `fn(task)` for every task; `done(task, result)` gets each result as it comes (its return value is
    shown beside the bar). `fn` must store what it finished itself: an interrupt raises a VcmError (exit 130)
    saying so. With `workers` > 1, tasks run in spawned processes set up by `initializer(*initargs)`; in this
    process `initializer` runs once first. With `executor="ray"` they run as Ray tasks (at most 2 x `workers`
    in flight; a local Ray of `workers` CPUs unless `ray_address` names a cluster), each Ray worker process
    set up once by `initializer`. A task whose worker died goes to `failed(task, error)` (without `failed`,
    the error is raised)."""
    check_executor(executor, ray_address)
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
        if executor == "ray":
            if tasks:
                _run_ray(fn, tasks, workers, initializer, initargs, finish, failed, ray_address)
        elif workers == 1:
            if initializer is not None and tasks:
                initializer(*initargs)
            for t in tasks:
                finish(t, fn(t))
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=initializer,
                                     initargs=tuple(initargs)) as pool:
                def stop(_handles) -> None:
                    procs = list((getattr(pool, "_processes", None) or {}).values())
                    pool.shutdown(wait=False, cancel_futures=True)
                    for proc in procs:  # stop the workers: only the tasks in progress are lost
                        proc.terminate()

                _bounded(tasks, workers, lambda t: pool.submit(fn, t),
                         lambda handles: wait(handles, return_when=FIRST_COMPLETED)[0], lambda f: f.result(), finish,
                         failed, stop)
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
