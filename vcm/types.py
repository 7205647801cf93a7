"""The typed things that flow through vcm (one definition each; see ../shared/DESIGN.md). The RD point types
(RDPoint, PointRow, CurvePoint) live with their aggregation in vcm.metrics.rd."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the original picture


@dataclass(frozen=True)
class Detection:
    """One object found by a detector: box in pixels (x1, y1, x2, y2), class and confidence."""

    box: Box
    class_id: int
    label: str
    score: float

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def to_json(self) -> dict[str, Any]:
        return {"box": [float(v) for v in self.box], "label": self.label, "class_id": int(self.class_id),
                "score": float(self.score)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Detection":
        box, score = tuple(float(v) for v in d["box"]), float(d.get("score", 1.0))
        if not all(math.isfinite(v) for v in (*box, score)):
            raise ValueError(f"box and score must be finite numbers, got {d.get('box')!r}, {d.get('score')!r}")
        return cls(box, int(d.get("class_id", -1)), str(d.get("label", "")), score)


@dataclass(frozen=True)
class Detections:
    """All detections in one picture of size width x height."""

    width: int
    height: int
    items: tuple[Detection, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, i: int) -> Detection:
        return self.items[i]


@dataclass(frozen=True)
class ObjectJRD:
    """A detection with its Just Recognizable Difference (QP class 0..63) and how it was obtained."""

    detection: Detection
    jrd: int
    source: str  # "search", "prior", "dtjrd", "fixed", "label"
    info: dict[str, Any] = field(default_factory=dict)  # e.g. encodes used, softmax expectation


@dataclass
class EncodeResult:
    """What one encoder run produced, with everything needed to reproduce and audit it."""

    bitstream: Path
    bytes: int
    width: int
    height: int
    frames: int
    fps: float
    qp: int
    bits_per_frame: list[int]
    psnr_y: list[float]
    psnr_u: list[float]
    psnr_v: list[float]
    slice_qps: list[int]
    seconds: float
    backend: str
    backend_version: str
    command: list[str]
    log_path: Path | None
    params: dict[str, Any] = field(default_factory=dict)
    cached: bool = False

    @property
    def bpp(self) -> float:
        return 8.0 * self.bytes / (self.width * self.height * max(1, self.frames))

    @property
    def kbps(self) -> float:
        return 8.0 * self.bytes * self.fps / max(1, self.frames) / 1000.0

    @property
    def psnr(self) -> float:
        """Mean Y-PSNR over frames (dB)."""
        return sum(self.psnr_y) / len(self.psnr_y) if self.psnr_y else float("nan")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["bitstream"] = str(self.bitstream)
        d["log_path"] = str(self.log_path) if self.log_path else None
        d["bpp"] = self.bpp
        d["kbps"] = self.kbps
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "EncodeResult":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        d["bitstream"] = Path(d["bitstream"])
        d["log_path"] = Path(d["log_path"]) if d.get("log_path") else None
        return cls(**d)
