"""The optional extras of the light install: import a heavy library or say which `pip install` brings it.

`pip install vcm` is the light core (codec, OpenCV and ONNX detectors, prior predictor, metrics, benchmark,
batch); torch, timm and ultralytics come with extras. The registries import backends through `import_backend`,
and the CLI turns any other missing heavy import into the same error, so a missing extra is a one-line
VcmError naming the install line (`pip install 'vcm[dtjrd]'`), not a traceback.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from vcm.errors import VcmError

# module -> the extra that installs it
EXTRA_OF = {"torch": "dtjrd", "torchvision": "dtjrd", "timm": "dtjrd", "ultralytics": "yolo", "ray": "ray"}


def install_line(extra: str) -> str:
    return f"pip install 'vcm[{extra}]'"


def check_installed(module: str, extra: str | None = None, what: str = "") -> None:
    """A VcmError naming the extra when `module` is not installed; finds it without importing it (cheap)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        top = module.split(".")[0]
        raise VcmError(f"{what or module} needs {top}, which the light install of vcm leaves out",
                       fix=install_line(extra or EXTRA_OF.get(top, "all")))


def import_backend(module_name: str, what: str) -> ModuleType:
    """Import a backend module of a registry; a heavy library it needs but the install lacks becomes a
    VcmError naming the extra (`what`: e.g. "detector 'yolo11n.pt'")."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in EXTRA_OF:
            raise
        raise VcmError(f"{what} needs {top}, which the light install of vcm leaves out",
                       fix=install_line(EXTRA_OF[top])) from None
