"""Where the encoders vcm builds from source live: one cache folder per program (stdlib only).

`tools/build_uvg266.py` and `tools/build_vtm.py` build into these folders (they load this file by path, so they
run without vcm installed), and the backends look there after their environment variable and PATH. The root is
$VCM_<NAME>_CACHE, else $XDG_CACHE_HOME/vcm/<name>, else ~/.cache/vcm/<name>.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_root(name: str) -> Path:
    """The build folder of program `name` ("uvg266", "vtm"), whether or not anything was built there."""
    env = os.environ.get(f"VCM_{name.upper()}_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "vcm" / name


def built_programs(name: str, *relative: str) -> list[Path]:
    """The programs under `name`'s build folder (paths relative to it) that exist and can be run."""
    root = cache_root(name)
    return [p for p in (root / r for r in relative) if p.is_file() and os.access(p, os.X_OK)]
