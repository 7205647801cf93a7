"""Parse the per-picture lines that VVenC (inside ffmpeg or as vvencFFapp) and VTM print:

    POC     0 TId: 0 (  IDR_N_LP, I-SLICE, QP 37, TF 0)      70080 bits [Y 25.7216 dB    U 25.6753 dB ...

This is how vcm proves that the QP in the bitstream is the QP that was asked for, and where the per-frame
bits and PSNR (against the encoder's input, i.e. our 10-bit frames) come from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_POC = re.compile(
    r"POC\s+(?P<poc>\d+).*?\(\s*(?P<nal>[A-Z_]+)\s*,\s*(?P<slice>[IPB])-SLICE,\s*QP\s+(?P<qp>-?\d+)[^)]*\)\s*"
    r"(?P<bits>\d+)\s+bits\s*\[Y\s+(?P<y>[-\d.infa]+)\s*dB\s+U\s+(?P<u>[-\d.infa]+)\s*dB\s+V\s+(?P<v>[-\d.infa]+)\s*dB"
)


@dataclass(frozen=True)
class PictureLog:
    poc: int
    nal_type: str
    slice_type: str
    qp: int
    bits: int
    psnr_y: float
    psnr_u: float
    psnr_v: float


def parse_picture_lines(text: str) -> list[PictureLog]:
    """All per-picture lines, sorted by POC (parallel encoders print them out of order)."""
    out = {}
    for m in _POC.finditer(text):
        p = PictureLog(int(m["poc"]), m["nal"], m["slice"], int(m["qp"]), int(m["bits"]),
                       float(m["y"]), float(m["u"]), float(m["v"]))
        out[p.poc] = p
    return [out[k] for k in sorted(out)]
