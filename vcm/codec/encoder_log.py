"""Parse the per-picture lines that VVenC (inside ffmpeg or as vvencFFapp) and VTM print:

    POC     0 TId: 0 (  IDR_N_LP, I-SLICE, QP 37, TF 0)      70080 bits [Y 25.7216 dB    U 25.6753 dB ...

This is how vcm proves that the QP in the bitstream is the QP that was asked for, and where the per-frame
bits and PSNR (against the encoder's input, i.e. our 10-bit frames) come from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

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
    text: str = field(default="", compare=False)  # the line as printed


def picture_lines(text: str) -> list[PictureLog]:
    """Every per-picture line in the order printed (several encoders in one process print several POC 0)."""
    return [PictureLog(int(m["poc"]), m["nal"], m["slice"], int(m["qp"]), int(m["bits"]),
                       float(m["y"]), float(m["u"]), float(m["v"]), m[0]) for m in _POC.finditer(text)]


def parse_picture_lines(text: str) -> list[PictureLog]:
    """All per-picture lines of one encoder, sorted by POC (parallel encoders print them out of order)."""
    out = {p.poc: p for p in picture_lines(text)}
    return [out[k] for k in sorted(out)]
