"""vcm: video coding for machines.

Predicts each detected object's Just Recognizable Difference (the coarsest VVC QP at which a detector still
recognises it), codes objects at that QP and the background far coarser, and measures the saving against
plain VVC with detection mAP and BD-rate. Heavy libraries (torch, ultralytics, timm) are imported only by
the modules that need them, so `import vcm` stays cheap.
"""
__version__ = "0.1.0"

__all__ = ["encode", "decode", "detect", "benchmark", "CodingSettings", "VcmError", "__version__"]
_API = {"encode": "vcm.api", "decode": "vcm.api", "benchmark": "vcm.api", "detect": "vcm.detect",
        "CodingSettings": "vcm.settings", "VcmError": "vcm.errors"}


def __getattr__(name: str):  # the Python API, imported on first use (vcm.api)
    if name in _API:
        import importlib

        module = importlib.import_module(_API[name])
        return module if name == "detect" else getattr(module, name)  # vcm.detect: a callable package
    raise AttributeError(f"module 'vcm' has no attribute {name!r}")
