"""The one registry helper behind `create_encoder`, `create_decoder`, `create_detector` and `create_predictor`.

Each kind keeps a table name -> "module:Class"; the module is imported only when that name is built, so a
registry costs nothing at start-up and a heavy backend (torch, ultralytics) loads only when chosen. A new
backend is one module plus one `register()` line.
"""
from __future__ import annotations

from typing import Any

from vcm.errors import VcmError


class Registry:
    """name -> "module:Class" for one kind of component (encoder, decoder, detector, predictor)."""

    def __init__(self, kind: str, entries: dict[str, str], fix: str | None = None):
        self.kind = kind
        self.entries = entries  # the module's own table, so a line added there is seen here
        self.fix = fix

    def register(self, name: str, target: str) -> None:
        if ":" not in target:
            raise ValueError(f"target must be 'module:Class', got {target!r}")
        self.entries[name] = target

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __iter__(self):
        return iter(self.entries)

    def get(self, name: str, default: Any = None) -> Any:
        return self.entries.get(name, default)

    def resolve(self, name: str, spec: str | None = None) -> type:
        """The class registered under `name` (its module imported now); unknown -> VcmError listing the names;
        a backend whose heavy library the light install lacks -> VcmError naming the extra to install."""
        from vcm.extras import import_backend

        target = self.entries.get(name)
        if target is None:
            raise VcmError(f"unknown {self.kind} {name!r}", fix=self.fix or f"use one of {', '.join(self.names())}")
        module_name, cls_name = target.split(":")
        return getattr(import_backend(module_name, f"{self.kind} {spec or name!r}"), cls_name)

    def create(self, name: str, *args: Any, spec: str | None = None, **options: Any) -> Any:
        """Build `name` as Class(*args, **options); a TypeError from options the backend does not take becomes
        a one-line VcmError naming `spec` (the user's words, default `name`)."""
        cls = self.resolve(name, spec)
        try:
            return cls(*args, **options)
        except TypeError as e:
            raise VcmError(f"{self.kind} {spec or name!r}: {e}",
                           fix=f"drop the options this {self.kind} does not take") from e
