"""The `vcm` command: a thin click layer that only parses options and calls vcm.pipelines.

Sub-commands live one per module in this package and are imported only when used, so commands that need
no model (`vcm vvc`, `vcm doctor`, `vcm decode`) start fast and never import torch or ultralytics. A module
here must not import torch/ultralytics/timm at module level: import them inside the command function.
"""
from __future__ import annotations

import functools
import importlib
import logging
import sys

import click

from vcm import __version__
from vcm.errors import VcmError

# command name -> "module:attribute". Add one line per new command.
COMMANDS: dict[str, str] = {
    "doctor": "vcm.cli.doctor:doctor",
    "vvc": "vcm.cli.vvc:vvc",
    "detect": "vcm.cli.detect:detect",
    "map": "vcm.cli.metrics:map_cmd",
    "bdrate": "vcm.cli.metrics:bdrate",
    "encode": "vcm.cli.coding:encode",
    "decode": "vcm.cli.coding:decode",
    "predict": "vcm.cli.coding:predict",
    "train": "vcm.cli.jrd:train",
    "jrd-eval": "vcm.cli.jrd:jrd_eval",
    "jrd-score": "vcm.cli.jrd:jrd_score",
    "label": "vcm.cli.label:label",
    "benchmark": "vcm.cli.benchmark:benchmark",
    "batch": "vcm.cli.batch:batch",
    "weights": "vcm.cli.weights:weights",
}

# commands that encode, detect or cache: they check the cache folder before any work
CACHING = {"vvc", "detect", "encode", "predict", "train", "jrd-eval", "label", "benchmark", "batch"}


# The options that name what a command writes (files or folders); every other click.Path parameter is an input.
OUTPUT_FLAGS = frozenset({"-o", "--out", "--output", "--json", "--coco", "--coco-gt", "--pred-out", "--draw"})


def guard_command(cmd: click.Command) -> click.Command:
    """Wrap a command (each command of a group) so that, before its body runs, none of its output options
    names one of its input paths or another output (vcm.fsutil.check_outputs): the one guard every command's
    every output passes, whatever else the command checks itself (input folders, spec files)."""
    if getattr(cmd, "_vcm_guarded", False):
        return cmd
    cmd._vcm_guarded = True  # type: ignore[attr-defined]
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            guard_command(sub)
        return cmd
    paths = [p for p in cmd.params if isinstance(p.type, click.Path)]
    callback = cmd.callback
    if callback is None or not any(set(p.opts) & OUTPUT_FLAGS for p in paths):
        return cmd

    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        from vcm.fsutil import check_outputs

        ins: dict[str, object] = {}
        outs: dict[str, object] = {}
        for p in paths:
            value = kwargs.get(p.name)
            if value is None or value == ():
                continue
            label = p.opts[0] if isinstance(p, click.Option) else p.human_readable_name  # --json, ANCHOR_CSV
            (outs if set(p.opts) & OUTPUT_FLAGS else ins)[label] = value
        check_outputs(ins, outs)
        return callback(*args, **kwargs)

    cmd.callback = guarded
    return cmd


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when that command is listed or run."""

    def list_commands(self, ctx):
        return sorted(name for name in COMMANDS if self.get_command(ctx, name) is not None)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:  # command not built yet: hide it rather than break `vcm --help`
            if e.name == module_name:
                return None
            raise
        return guard_command(getattr(module, attr))

    def resolve_command(self, ctx, args):
        """The sub-command, after checking the cache folder where the command uses it (before any work: a
        bad $VCM_CACHE_DIR must not fail a run after its detections and encodes)."""
        name, cmd, rest = super().resolve_command(ctx, args)
        if name in CACHING and not {"-h", "--help"} & set(rest) and not (name == "vvc" and rest[:1] != ["encode"]):
            from vcm.codec.cache import check_cache_dir

            check_cache_dir(use_cache="--no-cache" not in rest)
        return name, cmd, rest

    def invoke(self, ctx):
        """Every failure ends as one line on stderr: exit 2 for what the user can fix (the message names the
        file and the fix), exit 1 plus the path of a saved traceback for anything else. Never a traceback."""
        _show_warnings()
        _confine_library_state()
        try:
            rv = super().invoke(ctx)
            sys.stdout.flush()  # here, not at exit, so a reader that went away is seen below
            return rv
        except BrokenPipeError as e:
            if _stdout_closed():
                _stop_quietly()
            code, line = describe_failure(e)  # a pipe to a child process broke: a real failure
            click.echo(f"Error: {line}", err=True)
            sys.exit(code)
        except click.exceptions.UsageError as e:  # a bad option value or name: one line too, with where to look
            cmd = e.ctx.command_path if e.ctx is not None else "vcm"
            click.echo(f"Error: {_one_line(e.format_message()).rstrip('.')}. Fix: see `{cmd} -h`", err=True)
            sys.exit(e.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - this is the one place that turns exceptions into messages
            code, line = describe_failure(e)
            click.echo(f"Error: {line}", err=True)
            sys.exit(code)


def _stdout_closed() -> bool:
    """True when stdout is a pipe whose reader has gone (`vcm map ... | head -1`), not some other broken pipe."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _fd, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no real stdout (a test runner's buffer)
        return False


def _stop_quietly() -> None:
    """The reader of stdout stopped reading: end at once with no message, as other command-line tools do
    (exit 141 = 128 + SIGPIPE). stdout is pointed at /dev/null so Python's flush at exit finds nothing to say."""
    import os

    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(141)


def _confine_library_state() -> None:
    """Libraries vcm uses keep state files of their own: point them under vcm's state folder ($VCM_CACHE_DIR
    when set), before any of them is imported, so nothing is written outside the outputs and the cache.
    matplotlib (plots; imported by bjontegaard too) writes a font cache and a config folder: MPLCONFIGDIR."""
    import os

    from vcm.fsutil import state_dir

    os.environ.setdefault("MPLCONFIGDIR", str(state_dir() / "matplotlib"))


class _WarningsToStderr(logging.Handler):
    """vcm's and the pipelines' warnings (a truncated video, a file holding more pictures) on stderr, one line
    each, even where something else (a test runner) owns the root logger."""

    def emit(self, record: logging.LogRecord) -> None:
        msg = " ".join(self.format(record).split())
        click.echo(msg if msg.lower().startswith(("warning", "note")) else f"warning: {msg}", err=True)


def _show_warnings() -> None:
    for name in ("vcm",):
        lg = logging.getLogger(name)
        if not any(isinstance(h, _WarningsToStderr) for h in lg.handlers):
            h = _WarningsToStderr(logging.WARNING)
            lg.addHandler(h)


def describe_failure(e: BaseException) -> tuple[int, str]:
    """(exit code, one line) for an exception that reached the top of a command."""
    if isinstance(e, VcmError):
        return e.exit_code, _one_line(str(e))
    if isinstance(e, ModuleNotFoundError):  # a heavy library of an extra the light install left out
        from vcm.extras import EXTRA_OF, install_line

        top = (e.name or "").split(".")[0]
        if top in EXTRA_OF:
            return 2, _one_line(f"this command needs {top}, which the light install of vcm leaves out. "
                                f"Fix: {install_line(EXTRA_OF[top])}")
    if isinstance(e, RecursionError):
        return 2, "an input is nested too deeply to read (e.g. JSON thousands of levels deep). Fix: give a flat file"
    if isinstance(e, OSError) and (e.filename or isinstance(e, PermissionError)):
        where = f"{e.filename}: " if e.filename else ""
        what = e.strerror or type(e).__name__
        if isinstance(e, PermissionError):
            fix = "check the file's and its folder's permissions, or write elsewhere"
        elif isinstance(e, FileNotFoundError):
            fix = "check the path"
        elif getattr(e, "errno", None) == 28:  # ENOSPC
            fix = "free some disk space"
        else:
            fix = "check the path and that the disk is writable"
        return 2, _one_line(f"{where}{what}. Fix: {fix}")
    if type(e).__module__.split(".")[0] == "cv2":
        return 2, _one_line(f"OpenCV could not read or write a file ({_first(e)}). Fix: check the file name's "
                            "extension (.png, .jpg, .mkv) and that the folder is writable")
    if isinstance(e, (ValueError, OverflowError, ZeroDivisionError)):
        saved = save_traceback(e)
        return 2, _one_line(f"bad value: {_first(e) or type(e).__name__}. Fix: check the numbers and files given"
                            + (f" (details: {saved})" if saved else ""))
    saved = save_traceback(e)
    where = f"; traceback saved to {saved}" if saved else ""
    return 1, _one_line(f"unexpected {type(e).__name__}: {_first(e)}{where}. Fix: please report it with that file")


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def save_traceback(e: BaseException) -> str | None:
    """Write the full traceback under the cache's state folder; return its path (None if it cannot be saved)."""
    import os
    import time
    import traceback

    try:
        from vcm.codec.cache import state_dir

        d = state_dir() / "errors"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"vcm-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
        text = "vcm " + __version__ + " " + " ".join(sys.argv) + "\n" + "".join(
            traceback.format_exception(type(e), e, e.__traceback__))
        path.write_text(text)
        return str(path)
    except Exception:  # noqa: BLE001 - never fail while reporting a failure
        return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", "-V", prog_name="vcm")
def main():
    """vcm: code pictures and video for machines.

    For every object a detector finds, vcm predicts its Just Recognizable Difference (JRD): the coarsest
    VVC QP at which the detector still recognises it. It codes each object at that QP and the background
    far coarser, and proves the saving against plain VVC with detection mAP and BD-rate.

    \b
    Start here:
      vcm doctor                              what encoders, decoders and models are usable
      vcm encode bus.jpg -o bus.266           JRD-guided coding of one picture
      vcm decode bus.266 -o bus.png           back to a picture
      vcm vvc encode bus.jpg -q 37 -o a.266   plain VVC, the anchor

    Every command names a setting the same way, with the same default: -o/--output for what it writes,
    -q/--qp for a QP, --json FILE|- for its report, --quiet for no progress bar, --jrd search.
    """
