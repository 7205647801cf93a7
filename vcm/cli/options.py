"""The click options of every coding and detector setting, built from vcm/settings.py (one default, one help).

`@coding_options("mode", "jrd", ...)` adds those settings' options to a command; `pop_settings(kwargs)` turns
what click parsed into one `CodingSettings`. `@detector_options` is the detector part (--detector, --conf,
--iou, --imgsz, --classes, --device) that every command which detects shares; `setting_option(name)` is one
setting's option for a command that is not a coding command (`vcm vvc encode -q/--qp`, `vcm label --encoder`).

One name and one default per setting across commands: `-o/--output` for every output, `-q/--qp` for every QP,
`--quiet` for no progress bar, `--batch-size`, `--workers`, `--decoder`. Old spellings (`--out`,
`--batch`, `--min-score`, `-q` for --quiet where no QP is taken) still work as hidden aliases (`AliasOption`).
"""
from __future__ import annotations

from typing import Any, Callable

import click

from vcm.cli.numbers import Number
from vcm.codec.base import PRESETS
from vcm.settings import FIELD_HELP, GIVE_UP, PICTURE_MODES, CodingSettings

_DEFAULTS = {f: getattr(CodingSettings(), f) for f in CodingSettings.field_names()}


class QPNumber(Number):
    """A QP: a whole number 0..63 (the error says "QP 64 is outside 0..63", as the encoder's own check); `top`
    64 for the QP floor, where 64 protects no object."""

    def __init__(self, top: int = 63):
        super().__init__(int, 0, top)
        self.top = top

    def convert(self, value, param, ctx):
        try:
            q = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            self.fail(f"{value!r} is not a QP (a whole number 0..{self.top})", param, ctx)
        if not 0 <= q <= self.top:
            self.fail(f"QP {q} is outside 0..{self.top}", param, ctx)
        return q


QP = QPNumber()
QP_FLOOR = QPNumber(GIVE_UP)


class QPOrAuto(click.ParamType):
    """A QP 0..63, or `auto`."""

    name = "QP|auto"

    def convert(self, value, param, ctx):
        if value is None or value == "auto" or isinstance(value, int):
            return value
        try:
            q = int(str(value))
        except ValueError:
            self.fail(f"{value!r} is neither a QP (0..63) nor auto", param, ctx)
        if not 0 <= q <= 63:
            self.fail(f"{q} is outside 0..63", param, ctx)
        return q


class AliasOption(click.Option):
    """An option whose old spellings (`hidden_aliases`) are still accepted but not shown in --help; `help` may be
    a function, called only when the help is shown (counts that need a file read: `vcm benchmark --bundled`)."""

    def __init__(self, param_decls, hidden_aliases=(), **kw):
        self.hidden_aliases = tuple(hidden_aliases)
        self.help_fn = kw.pop("help") if callable(kw.get("help")) else None  # help computed when shown
        super().__init__([*param_decls, *self.hidden_aliases], **kw)

    def get_help_record(self, ctx):
        if self.help_fn is not None:
            self.help = self.help_fn()
        saved = self.opts, self.secondary_opts
        self.opts = [o for o in self.opts if o not in self.hidden_aliases]
        self.secondary_opts = [o for o in self.secondary_opts if o not in self.hidden_aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts, self.secondary_opts = saved


def alias_option(*decls: str, hidden_aliases: tuple[str, ...] = (), **kw) -> Callable:
    return click.option(*decls, cls=AliasOption, hidden_aliases=hidden_aliases, **kw)


def output_option(help: str, *, dest: str = "out", folder: bool = False, required: bool = False) -> Callable:
    """`-o/--output` (every command's output; `--out` is the old spelling, still accepted)."""
    kind = click.Path(file_okay=False) if folder else click.Path(dir_okay=False)
    return alias_option("-o", "--output", dest, hidden_aliases=("--out",), type=kind, required=required, help=help)


def quiet_option(f=None, *, short: bool = True):
    """`--quiet`: no progress bar. `-q` is the QP wherever a command takes one (`-q/--qp`); on commands
    without a QP it is still accepted for --quiet (hidden), as it used to be."""
    deco = alias_option("--quiet", "quiet", hidden_aliases=("-q",) if short else (), is_flag=True,
                        help="No progress bar.")
    return deco(f) if f is not None else deco


def workers_option(help: str = "Processes, one picture each at a time.") -> Callable:
    return click.option("--workers", type=Number(int, 1, 1024), default=1, show_default=True, help=help)


def executor_options(f):
    """`--executor local|ray` and `--ray-address` of `vcm batch`, `vcm label` and `vcm benchmark` (vcm.runner)."""
    f = click.option("--ray-address", default=None,
                     help="Address of a running Ray cluster (host:port or ray://...). Default: start a local Ray "
                          "with --workers CPUs.")(f)
    return click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                        help="local: processes on this machine; ray: Ray tasks, at most 2 x --workers in flight "
                             "(pip install 'vcm[ray]'; every node needs vcm and the input files).")(f)


def decoder_option(f):
    from vcm.codec import DEFAULT_DECODER

    return click.option("--decoder", default=DEFAULT_DECODER, show_default=True,
                        help="Decoder backend: pyav, ffmpeg, vvdec or vtm.")(f)


def batch_size_option(help: str, default: int = 32, max: int = 4096, old: tuple[str, ...] = ()) -> Callable:
    """`--batch-size`; `old`: earlier spellings still accepted (`vcm detect --batch`)."""
    return alias_option("--batch-size", "batch_size", hidden_aliases=old, type=Number(int, 1, max),
                        default=default, show_default=True, help=help)


# setting -> (option declarations, click keyword arguments); defaults come from CodingSettings
_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "mode": (("--mode",), {"type": click.Choice(PICTURE_MODES)}),
    "detector": (("--detector", "-d"), {}),
    "conf": (("--conf",), {"type": Number(float, 0, 1)}),
    "det_iou": (("--iou", "det_iou"), {"type": Number(float, 0, 1)}),
    "imgsz": (("--imgsz",), {"type": Number(int, 32, 4096)}),
    "classes": (("--classes",), {}),
    "device": (("--device",), {}),
    "jrd": (("--jrd",), {}),
    "jrd_offset": (("--jrd-offset",), {"type": Number(int, -63, 63)}),
    "bg_qp": (("--bg-qp",), {"type": QPOrAuto()}),
    "qp": (("-q", "--qp"), {"type": QP}),
    "qp_min": (("--qp-min",), {"type": QP_FLOOR}),
    "margin": (("--margin",), {"type": Number(int, 0, 4096)}),
    "encoder": (("--encoder",), {}),
    "preset": (("--preset",), {"type": click.Choice(PRESETS)}),
    "matrix": (("--matrix",), {"type": click.Choice(["bt709", "bt601"])}),
    "keep_score": (("--keep-score",), {"type": Number(float, 0, 1)}),
    "detect_score": (("--detect-score",), {"type": Number(float, 0, 1), "hidden_aliases": ("--min-score",)}),
    "intra": (("--intra",), {"is_flag": True}),
    "intra_period": (("--intra-period",), {"type": Number(int, 1, 1024)}),
    "detect_every": (("--detect-every",), {"type": Number(int, 1, 10000)}),
    "start": (("--start",), {"type": Number(int, 0)}),
    "max_frames": (("--frames", "max_frames"), {"type": Number(int, 1)}),
    "check": (("--check/--no-check",), {}),
    "compare_plain": (("--compare/--no-compare", "compare_plain"), {}),
    "cache": (("--cache/--no-cache",), {}),
}
DETECTOR_FIELDS = ("detector", "conf", "det_iou", "imgsz", "classes", "device")


def setting_option(name: str, **overrides: Any) -> Callable:
    """One setting's click option: its declarations, type, default and help from vcm/settings.py; `overrides`
    (e.g. required=True, help=...) replace click keyword arguments. Never a second default: pass `default` only
    where a command's meaning of the setting differs, and say so in its help."""
    decls, kw = _OPTIONS[name]
    kw = {"default": _DEFAULTS[name], "help": FIELD_HELP[name], **kw, **overrides}
    if kw.get("required"):
        kw.pop("default", None)
    kw.setdefault("show_default", kw.get("default") is not None and not kw.get("is_flag"))
    return click.option(*decls, cls=AliasOption, **kw)


def coding_options(*names: str, help: dict[str, str] | None = None) -> Callable:
    """Add the options of these settings (in this order) to a click command, with the defaults of
    CodingSettings: every command that takes a setting takes it under one name with one default."""
    help = help or {}

    def deco(f):
        for name in reversed(names):
            f = setting_option(name, **({"help": help[name]} if name in help else {}))(f)
        return f
    return deco


def detector_options(f=None):
    """The detector options every detecting command shares."""
    deco = coding_options(*DETECTOR_FIELDS)
    return deco(f) if f is not None else deco


def pop_settings(kwargs: dict[str, Any], base: CodingSettings | None = None, **overrides: Any) -> CodingSettings:
    """Take every setting click parsed out of `kwargs` (the rest stays) and build one CodingSettings."""
    names = set(CodingSettings.field_names())
    given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
    given.update(overrides)
    return CodingSettings.from_kwargs(base, **given)


def pop_detector(kwargs: dict[str, Any]):
    """Take the detector options out of `kwargs` and return their DetectorSettings."""
    from vcm.settings import DetectorSettings

    return DetectorSettings(**{k: kwargs.pop(k) for k in DETECTOR_FIELDS if k in kwargs})


def json_option(what: str = "the report") -> Callable:
    """`--json FILE|-`, the same on every command: FILE is written atomically; `-` prints the JSON on stdout
    and nothing else goes to stdout then (messages go to stderr)."""
    return click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                        help=f'Write {what} as JSON to FILE ("-": stdout, and nothing else on stdout).')


def emit(json_path: str | None, obj: Any, text: str | None = None) -> None:
    """Write the JSON (file or stdout) and print the human text unless the JSON took stdout."""
    import json
    import sys

    if json_path == "-":
        json.dump(obj, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    if json_path:
        from vcm.fsutil import write_json_atomic

        write_json_atomic(json_path, obj)
    if text:
        click.echo(text)
