"""Validated number option types: a bounded, finite int or float (click's FloatRange lets `nan` through,
and `--fps 0`, `--frames 0` or `--intra-period 0` are nonsense that used to run)."""
from __future__ import annotations

import math

import click


class Number(click.ParamType):
    """`Number(int, 1)`: a whole number >= 1; `Number(float, 0, 1000, min_open=True)`: 0 < x <= 1000, never
    nan or inf. The error names the option, the value and the range (one line, exit 2)."""

    def __init__(self, kind: type = float, min: float | None = None, max: float | None = None, *,
                 min_open: bool = False, max_open: bool = False):
        self.kind, self.min, self.max, self.min_open, self.max_open = kind, min, max, min_open, max_open
        self.name = "integer" if kind is int else "float"

    def _range(self) -> str:
        lo = "" if self.min is None else f"{self.min:g} {'<' if self.min_open else '<='} "
        hi = "" if self.max is None else f" {'<' if self.max_open else '<='} {self.max:g}"
        return f"{lo}x{hi}" if lo or hi else "a finite number"

    def convert(self, value, param, ctx):
        if isinstance(value, self.kind) and not isinstance(value, bool):
            v = value
        else:
            try:
                v = self.kind(str(value).strip())
            except ValueError:
                what = "a whole number" if self.kind is int else "a number"
                self.fail(f"{value!r} is not {what}", param, ctx)
        if isinstance(v, float) and not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.min is not None and (v <= self.min if self.min_open else v < self.min) or \
                self.max is not None and (v >= self.max if self.max_open else v > self.max):
            self.fail(f"{v:g} is outside {self._range()}", param, ctx)
        return v

    def get_metavar(self, param, *args, **kwargs):
        return "INTEGER" if self.kind is int else "FLOAT"

    def __repr__(self) -> str:
        return f"Number({self.kind.__name__}, {self._range()})"
