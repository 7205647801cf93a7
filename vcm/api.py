"""The Python API: the same pipelines as the `vcm` command, for notebooks and scripts.

    import vcm
    rep = vcm.encode("bus.jpg", "bus.266", jrd="prior")       # or a numpy RGB array; out=None: bytes only
    print(rep.total_bytes, rep.check)                          # EncodeReport, rep.to_json() for pandas
    pic = vcm.decode("bus.266").picture                        # DecodeReport; .picture: RGB uint8 array
    dets = vcm.detect("bus.jpg")                               # Detections (boxes, classes, scores)

Settings are the keyword names of `vcm.settings.CodingSettings` (the CLI's options with `_` for `-`), checked
once; an unknown name is a VcmError listing the known ones. Nothing heavy is imported until a call needs it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


from vcm.settings import CodingSettings

Picture = "str | Path | np.ndarray"


def encode(picture: Any, out: str | Path | None = None, **settings: Any):
    """Code a picture (path or RGB uint8 array) for machines; returns an `EncodeReport` whose `data` holds the
    file's bytes. `out=None` writes nothing to disk that outlives the call."""
    from vcm.pipelines.encode import run_encode

    s = CodingSettings.from_kwargs(**settings)
    if out is not None:
        rep = run_encode(picture, out, s)
        rep.data = Path(out).read_bytes()
        return rep
    with tempfile.TemporaryDirectory(prefix="vcm-api-") as tmp:
        path = Path(tmp) / "picture.266"
        rep = run_encode(picture, path, s)
        rep.data = path.read_bytes()
        rep.output = None
    return rep


def decode(file: str | Path | bytes, out: str | Path | None = None, decoder: str = "pyav"):
    """Decode a file from `encode` (path or its bytes) to an RGB picture; `out` also writes it (.png). Returns
    the `vcm.pipelines.decode.DecodeReport` (`.picture` is the RGB uint8 array)."""
    from vcm.pipelines.decode import run_decode

    if not isinstance(file, (bytes, bytearray)):
        return run_decode(file, out, decoder)
    with tempfile.TemporaryDirectory(prefix="vcm-api-") as tmp:
        path = Path(tmp) / "in.266"
        path.write_bytes(bytes(file))
        rep = run_decode(path, out, decoder)
    rep.input = None
    return rep


def detect(picture: Any, **options: Any):
    """Detections on one picture (path or RGB uint8 array). Options: detector, conf, det_iou, imgsz, classes,
    device (as `vcm detect`)."""
    from vcm.detect.base import detect_picture

    return detect_picture(picture, **options)


def benchmark(data: str | Path, out: str | Path, **config: Any):
    """`vcm benchmark` over a folder of pictures: returns the `vcm.pipelines.benchmark.BenchmarkReport` (its
    `to_json()` is OUT/summary.json). Keywords are those of `vcm.pipelines.benchmark.BenchmarkConfig` (jrd, qps,
    offsets, modes, bg_qps, detector, ...)."""
    from vcm.pipelines.benchmark import BenchmarkConfig, run_benchmark

    return run_benchmark(BenchmarkConfig(data=Path(data), out=Path(out), progress=config.pop("progress", False),
                                         **config), echo=lambda *a, **k: None)
