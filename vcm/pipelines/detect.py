"""`vcm detect`'s job: pictures, folders and videos in (as `yolo predict` takes them), one detection entry per
picture or video frame out, in input order.

A folder stands for its pictures and videos (top level, sorted by name, hidden and non-regular files skipped,
as `vcm benchmark` lists DATA); a video for its frames [start, start + max_frames), named `FILE#k` in the
JSON/COCO outputs and drawn as `<stem>_<k>.png`. Frames are decoded one batch at a time, never a whole video.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.media import PICTURE_EXTS, VIDEO_EXTS, check_input_file, iter_video_rgb, read_picture
from vcm.types import Detections


@dataclass(frozen=True)
class DetectItem:
    """One picture, or one frame of a video, that is detected."""

    path: Path
    frame: int | None = None  # None: a picture

    @property
    def name(self) -> str:
        """The file name recorded in the JSON/COCO outputs."""
        return str(self.path) if self.frame is None else f"{self.path}#{self.frame}"


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTS


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Every file the inputs stand for: files as given, a folder as its pictures and videos. Each is checked
    (there, a file, not empty) before anything is detected; a folder with neither is an error naming it."""
    out: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if not p.name.startswith(".") and p.is_file()
                           and p.suffix.lower() in PICTURE_EXTS | VIDEO_EXTS)
            if not found:
                raise VcmError("the folder holds no picture or video", path=given,
                               fix=f"put pictures ({', '.join(sorted(PICTURE_EXTS))}) or videos in it")
            out.extend(found)
        else:
            out.append(check_input_file(given))
    for p in out:
        check_input_file(p)
    return out


def iter_items(files: Sequence[Path], start: int = 0,
               max_frames: int | None = None) -> Iterator[tuple[DetectItem, np.ndarray]]:
    """(item, RGB picture) for every picture and every frame asked for of every video, in order."""
    for f in files:
        if is_video(f):
            for i, rgb in iter_video_rgb(f, start, max_frames):
                yield DetectItem(f, i), rgb
        else:
            yield DetectItem(f), read_picture(f)


def run_detect(files: Sequence[Path], detector, *, batch: int = 8, start: int = 0, max_frames: int | None = None,
               on_item: Callable[[DetectItem, np.ndarray, Detections], None] | None = None,
               ) -> list[tuple[DetectItem, Detections]]:
    """Detect every item, `batch` pictures per detector call; `on_item` sees each result as it comes."""
    entries: list[tuple[DetectItem, Detections]] = []
    chunk: list[tuple[DetectItem, np.ndarray]] = []

    def flush() -> None:
        for (item, rgb), dets in zip(chunk, detector.detect([rgb for _, rgb in chunk])):
            entries.append((item, dets))
            if on_item is not None:
                on_item(item, rgb, dets)
        chunk.clear()

    for item, rgb in iter_items(files, start, max_frames):
        chunk.append((item, rgb))
        if len(chunk) >= max(1, batch):
            flush()
    if chunk:
        flush()
    return entries


class DrawNames:
    """File stems for --draw outputs (`<stem>`, or `<stem>_<frame>` for a video frame), made unique when two
    inputs share a name; called once per item, in order."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, item: DetectItem) -> str:
        stem = item.path.stem if item.frame is None else f"{item.path.stem}_{item.frame:06d}"
        n = self.seen.get(stem, 0)
        self.seen[stem] = n + 1
        return stem if n == 0 else f"{stem}_{n}"
