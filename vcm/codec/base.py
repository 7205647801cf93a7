"""The codec interface: one abstract Encoder and Decoder, one subclass per external program.

Every backend receives the same 10-bit 4:2:0 frames (made once by `vcm.codec.colour`), so the bits of
different backends are comparable, and every backend must code exactly the QP it is given (no hidden
intra QP offset, no perceptual QPA unless asked): `Encoder.encode` checks the slice QPs in the log.
`Encoder.encode_crops` codes several rectangles of one frame, each as its own stream; by default one
`encode` per crop, and a backend that can code them all in one process (ffmpeg) overrides it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from vcm.settings import PRESETS  # one definition, with the other settings; re-exported here
from vcm.types import EncodeResult

if TYPE_CHECKING:  # annotations only: importing this module (the CLI does, for PRESETS) loads no numpy
    import numpy as np



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

    def check_rect(self, rect: tuple[int, int, int, int]) -> None:
        """Raise ValueError unless `rect` (x, y, w, h) is even-aligned and inside the frame (4:2:0: the chroma of
        an even rectangle is exactly its half-size rectangle)."""
        x, y, w, h = rect
        if x % 2 or y % 2 or w % 2 or h % 2 or w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > self.width \
                or y + h > self.height:
            raise ValueError(f"rectangle {tuple(rect)} is not even-aligned inside the {self.width}x{self.height} frame")

    def crop(self, rect: tuple[int, int, int, int]) -> YuvFrame:
        """The pixels inside an even rectangle (x, y, w, h), as a frame of its own (copied, display = its size)."""
        self.check_rect(rect)
        x, y, w, h = rect
        c = (slice(y // 2, (y + h) // 2), slice(x // 2, (x + w) // 2))
        return YuvFrame(self.y[y:y + h, x:x + w].copy(), self.u[c].copy(), self.v[c].copy())


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
    # the colour matrix and range in the stream's VUI (8 bytes), for stock decoders; whole pictures carry it,
    # object crops do not (vcm.coding.modes.code_crops: parts of a composite, the plan's comparisons stay even)
    vui: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CropJob:
    """One stream of `Encoder.encode_crops`: the rectangle (x, y, w, h; even, inside the frame) coded at `params`
    into the Annex-B file `out`."""

    rect: tuple[int, int, int, int]
    params: EncodeParams
    out: Path


# libvvenc (ffmpeg's and vvencapp) fails to code random access below about 24x16 / 20x20: every size with
# width + height < 40 failed (16x16 to 22x16 and 18x20, every preset, 1 to 9 frames); all-intra codes 16x16.
RA_MIN_SIDES = 40


@dataclass(frozen=True)
class Capabilities:
    intra: bool = True
    random_access: bool = True
    presets: tuple[str, ...] = PRESETS
    max_qp: int = 63
    ra_min_sides: int = 0  # random access needs width + height >= this (libvvenc: 40, measured; 0: no limit)


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

    def encode_crops(self, frame: YuvFrame, jobs: Sequence[CropJob], fps: float = 1.0, matrix: str = "bt709",
                     workers: int | None = None) -> list[EncodeResult | Exception]:
        """Each job's rectangle of `frame` as a one-frame clip of its own (`crop_clip`), coded into its `out`:
        exactly the bitstreams `encode` makes of those clips. A failed crop answers its exception in its place
        (the others are still coded). This default runs one `encode` per crop, `workers` side by side (default
        one per CPU: small crops leave cores idle); a backend that codes them all in one process overrides it."""
        import os
        from concurrent.futures import ThreadPoolExecutor

        def one(job: CropJob) -> EncodeResult | Exception:
            try:
                return self.encode(crop_clip(frame, job.rect, fps, matrix), job.params, job.out)
            except Exception as e:  # noqa: BLE001 - handed back in place; the caller raises it
                return e

        workers = min(len(jobs), workers or os.cpu_count() or 1)
        if workers <= 1:
            return [one(j) for j in jobs]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, jobs))


def crop_clip(frame: YuvFrame, rect: tuple[int, int, int, int], fps: float = 1.0, matrix: str = "bt709",
              source: str = "") -> YuvClip:
    """The one-frame clip a crop stream codes: `frame.crop(rect)` (the clip the encode cache keys)."""
    return YuvClip([frame.crop(rect)], fps=fps, matrix=matrix, source=source)


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
