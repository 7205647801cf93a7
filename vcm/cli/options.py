"""The click options of every coding and detector setting, built from vcm/settings.py (one default, one help).

`@coding_options("mode", "jrd", ...)` adds those settings' options to a command; `settings_from(kwargs)` turns
what click parsed into one `CodingSettings`. `@detector_options` is the detector part (--detector, --conf,
--iou, --imgsz, --classes, --device) that every command which detects shares. A command may override a
default (`vcm batch` defaults to `--jrd prior`), and says so in its help.
"""
from __future__ import annotations

from typing import Any, Callable

import click

from vcm.cli.numbers import Number
from vcm.codec.base import PRESETS
from vcm.settings import DEFAULT_DETECTOR, FIELD_HELP, PICTURE_MODES, CodingSettings

_DEFAULTS = {f: getattr(CodingSettings(), f) for f in CodingSettings.field_names()}
QP = Number(int, 0, 63)


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
    "qp": (("--qp",), {"type": QP}),
    "qp_min": (("--qp-min",), {"type": QP}),
    "margin": (("--margin",), {"type": Number(int, 0, 4096)}),
    "encoder": (("--encoder",), {}),
    "preset": (("--preset",), {"type": click.Choice(PRESETS)}),
    "matrix": (("--matrix",), {"type": click.Choice(["bt709", "bt601"])}),
    "keep_score": (("--keep-score",), {"type": Number(float, 0, 1)}),
    "detect_score": (("--detect-score",), {"type": Number(float, 0, 1)}),
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


def coding_options(*names: str, defaults: dict[str, Any] | None = None,
                   help: dict[str, str] | None = None) -> Callable:
    """Add the options of these settings (in this order) to a click command."""
    defaults, help = defaults or {}, help or {}

    def deco(f):
        for name in reversed(names):
            decls, kw = _OPTIONS[name]
            kw = dict(kw)
            default = defaults.get(name, _DEFAULTS[name])
            kw["default"] = default
            kw["show_default"] = default is not None and not kw.get("is_flag")
            kw["help"] = help.get(name, FIELD_HELP[name])
            f = click.option(*decls, **kw)(f)
        return f
    return deco


def detector_options(f=None, *, default: str = DEFAULT_DETECTOR):
    """The detector options every detecting command shares."""
    deco = coding_options(*DETECTOR_FIELDS, defaults={"detector": default})
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
