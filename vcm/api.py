"""The Python API: the same pipelines as the `vcm` command, for notebooks and scripts.

    import vcm
    rep = vcm.encode("bus.jpg", "bus.266", jrd="prior")       # or a numpy RGB array; out=None: bytes only
    print(rep.total_bytes, rep.check)                          # EncodeReport, rep.to_json() for pandas
    pic = vcm.decode("bus.266").picture                        # DecodeReport; .picture: RGB uint8 array
    rep = vcm.encode("clip.mp4", "clip.266", jrd="prior", frames=24)   # a video: VideoReport, as `vcm encode`
    frames = vcm.decode("clip.266", "clip.mkv").pictures       # every frame (RGB uint8); out may be None
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
    """Code a picture (path or RGB uint8 array) or a video file for machines; returns an `EncodeReport` (a
    `VideoReport` for a video, as `vcm encode VIDEO`) whose `data` holds the file's bytes. `out=None` writes
    nothing to disk that outlives the call. `frames=N` (the CLI's --frames) codes a video's first N frames."""
    from vcm.pipelines.encode import run_encode
    from vcm.pipelines.video import is_video_path, run_encode_video

    if "frames" in settings:  # the CLI's --frames
        settings["max_frames"] = settings.pop("frames")
    s = CodingSettings.from_kwargs(**settings)
    video = isinstance(picture, (str, Path)) and is_video_path(picture)
    run = run_encode_video if video else run_encode
    if out is not None:
        rep = run(picture, out, s)
        rep.data = Path(out).read_bytes()
        return rep
    with tempfile.TemporaryDirectory(prefix="vcm-api-") as tmp:
        path = Path(tmp) / "picture.266"
        rep = run(picture, path, s)
        rep.data = path.read_bytes()
        rep.output = None
    return rep


def decode(file: str | Path | bytes, out: str | Path | None = None, decoder: str = "pyav"):
    """Decode a file from `encode` (path or its bytes) to an RGB picture; `out` also writes it (.png). Returns
    the `vcm.pipelines.decode.DecodeReport` (`.picture` is the RGB uint8 array). A video file gives every frame
    (`.pictures`) and `out` may be .mkv, .y4m or a frame pattern (f_%04d.png), as `vcm decode`."""
    from vcm.pipelines.decode import run_decode
    from vcm.pipelines.video import run_decode_video
    from vcm.video_container import is_video_file

    def run(path):
        return (run_decode_video if is_video_file(path) else run_decode)(path, out, decoder)

    if not isinstance(file, (bytes, bytearray)):
        return run(file)
    with tempfile.TemporaryDirectory(prefix="vcm-api-") as tmp:
        path = Path(tmp) / "in.266"
        path.write_bytes(bytes(file))
        rep = run(path)
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
