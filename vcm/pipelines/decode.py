"""`vcm decode`: a vcm file (or a plain VVC .266) back to a picture, and the one report of every decode (picture
or video file). Needs no detector and no torch."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass
class DecodeReport:
    """What a decode read and wrote. A picture file has `streams` (role, rect, QP, bytes of each, pasted lowest
    QP on top) and `picture` (the RGB result); a video file (vcm.pipelines.video.run_decode_video) has `mode`,
    `frames`, `fps` and `units`. `to_json()` is `vcm decode --json`."""

    input: str | None  # None: decoded from bytes (Python API)
    output: str | None  # None: nothing written (Python API)
    width: int
    height: int
    matrix: str
    bytes: int  # size of the file read
    seconds: float
    streams: list[dict[str, Any]] | None = None
    plain_vvc: bool = False  # a picture file without the vcm SEI: one plain VVC stream
    mode: str | None = None
    frames: int = 1
    fps: float | None = None
    units: list[dict[str, Any]] | None = None
    picture: "np.ndarray | None" = field(default=None, repr=False)
    pictures: "list[np.ndarray] | None" = field(default=None, repr=False)  # a video file: every frame, RGB

    @property
    def is_video(self) -> bool:
        return self.units is not None

    def to_json(self) -> dict[str, Any]:
        if self.is_video:
            return {"input": self.input, "output": self.output, "mode": self.mode, "width": self.width,
                    "height": self.height, "frames": self.frames, "fps": self.fps, "matrix": self.matrix,
                    "bytes": self.bytes, "units": self.units, "seconds": self.seconds}
        return {"input": self.input, "output": self.output, "width": self.width, "height": self.height,
                "matrix": self.matrix, "plain_vvc": self.plain_vvc, "bytes": self.bytes, "streams": self.streams,
                "seconds": self.seconds}


def format_decode_report(r: DecodeReport) -> str:
    """The line `vcm decode` prints."""
    if r.is_video:
        units = f"{len(r.units)} unit" + ("s" if len(r.units) != 1 else "")
        return (f"{r.output}: {r.width}x{r.height}, {r.frames} frames at {r.fps:g} fps from a vcm video file "
                f"(mode {r.mode}, {units}), {r.bytes} bytes, {r.seconds:.2f} s")
    if r.plain_vvc:
        what = "a plain VVC stream"
    elif len(r.streams) == 1:  # blur, frame, plain: the objects are coded inside the one stream
        what = f"1 stream (QP {r.streams[0]['qp']}; no object streams: the objects are coded in it)"
    else:
        qps = sorted({st["qp"] for st in r.streams[1:]})
        at = f"QP {qps[0]}" if len(qps) == 1 else f"QP {qps[0]}-{qps[-1]}"
        n = len(r.streams) - 1
        what = (f"{len(r.streams)} streams (background QP {r.streams[0]['qp']} + {n} object stream"
                f"{'s' if n != 1 else ''} at {at})")
    return f"{r.output}: {r.width}x{r.height} from {what}, {r.bytes} bytes, {r.seconds:.2f} s"


def run_decode(input_path: str | Path, output: str | Path | None, decoder: str = "pyav") -> DecodeReport:
    """Decode every stream, paste the object crops over the background (lowest QP on top), write the picture
    (`output=None`: only return it)."""
    from vcm.codec import yuv_to_rgb
    from vcm.coding.modes import read_coded_file
    from vcm.fsutil import refuse_overwrite_input
    from vcm.media import write_picture

    t0 = time.perf_counter()
    input_path = Path(input_path)
    if output is not None:
        output = Path(output)
        refuse_overwrite_input(output, input_path)
    frame, vf = read_coded_file(input_path, decoder)
    rgb = yuv_to_rgb(frame, vf.matrix)
    if output is not None:
        write_picture(output, rgb)
    return DecodeReport(str(input_path), None if output is None else str(output), vf.width, vf.height, vf.matrix,
                        input_path.stat().st_size, round(time.perf_counter() - t0, 3),
                        streams=[{"role": s.role, "rect": list(s.rect), "qp": s.qp, "bytes": len(s.data)}
                                 for s in vf.streams], plain_vvc=vf.plain, picture=rgb)
