"""The codec interface: one abstract Encoder and Decoder, one subclass per external program.

Every backend receives the same 10-bit 4:2:0 frames (made once by `vcm.codec.colour`), so the bits of
different backends are comparable, and every backend must code exactly the QP it is given (no hidden
intra QP offset, no perceptual QPA unless asked): `Encoder.encode` checks the slice QPs in the log.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vcm.types import EncodeResult

if TYPE_CHECKING:  # annotations only: importing this module (the CLI does, for PRESETS) loads no numpy
    import numpy as np

PRESETS = ("faster", "fast", "medium", "slow", "slower")


@dataclass
class YuvFrame:
    """One 10-bit 4:2:0 picture: planes y (H, W), u and v (H/2, W/2), uint16 values 0..1023.

    H and W are the coded (even) size; `display` is the size to crop back to after decoding.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    display: tuple[int, int] | None = None  # (width, height); None = the coded size

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])

    @property
    def display_size(self) -> tuple[int, int]:
        return self.display or (self.width, self.height)


@dataclass
class YuvClip:
    """Frames to encode (all the same size), their frame rate and the colour matrix that made them."""

    frames: list[YuvFrame]
    fps: float = 25.0
    matrix: str = "bt709"  # "bt601" or "bt709", limited range
    source: str = ""  # where the frames came from (for logs)

    @property
    def width(self) -> int:
        return self.frames[0].width

    @property
    def height(self) -> int:
        return self.frames[0].height


@dataclass(frozen=True)
class EncodeParams:
    """Every setting that changes the bitstream; all of it goes into the cache key and the report."""

    qp: int
    preset: str = "faster"
    intra: bool = True  # all-intra; False = random access
    intra_period: int = 32  # random access only (frames)
    qpa: bool = False  # perceptual QP adaptation (off: QP means the QP in the bitstream)
    threads: int = 0  # 0 = encoder default
    extra: tuple[str, ...] = ()  # backend-specific extra options, recorded verbatim

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Capabilities:
    intra: bool = True
    random_access: bool = True
    presets: tuple[str, ...] = PRESETS
    max_qp: int = 63


class Encoder(ABC):
    """Runs one external VVC encoder. Subclasses implement `_encode`; `encode` adds checks."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()

    @abstractmethod
    def available(self) -> bool:
        """True when the program can run on this machine."""

    @abstractmethod
    def version(self) -> str:
        """Version string of the encoder (goes into the cache key and every report)."""

    @abstractmethod
    def command(self, yuv_path: Path, clip: YuvClip, params: EncodeParams, out: Path) -> list[str]:
        """The exact argument list that codes `yuv_path` (raw yuv420p10le) into `out`."""

    @abstractmethod
    def encode(self, clip: YuvClip, params: EncodeParams, out: Path) -> EncodeResult:
        """Code the clip into the Annex-B file `out`; raise VcmError on failure."""


class Decoder(ABC):
    """Decodes an Annex-B VVC file (possibly several concatenated sequences) to 10-bit frames."""

    name: ClassVar[str]

    @abstractmethod
    def available(self) -> bool: ...

    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def decode(self, bitstream: Path) -> list[YuvFrame]:
        """All pictures in decoding output order, each at its own coded size (display=None)."""
