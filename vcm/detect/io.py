"""The detections file that `vcm detect --json` writes and `vcm map` reads.

    {"detector": {...describe()...},
     "images": [{"file": "bus.jpg", "width": 810, "height": 1080,
                 "detections": [{"box": [x1, y1, x2, y2], "label": "person", "class_id": 0, "score": 0.91}]}]}

Boxes are in pixels of the picture as read (x1, y1 top-left, x2, y2 bottom-right, exclusive).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from vcm.errors import VcmError
from vcm.types import Detection, Detections


def detections_document(entries: Iterable[tuple[str, Detections]],
                        detector: Mapping[str, Any] | None = None) -> dict[str, Any]:
    images = [{"file": str(name), "width": int(d.width), "height": int(d.height),
               "detections": [x.to_json() for x in d]} for name, d in entries]
    doc: dict[str, Any] = {}
    if detector is not None:
        doc["detector"] = dict(detector)
    doc["images"] = images
    return doc


def write_detections_json(path: str | Path, entries: Iterable[tuple[str, Detections]],
                          detector: Mapping[str, Any] | None = None) -> None:
    from vcm.fsutil import write_json_atomic

    write_json_atomic(path, detections_document(entries, detector))


def parse_detections_document(doc: Any, path: str | Path | None = None) -> list[tuple[str, Detections]]:
    fix = 'give a file written by "vcm detect --json"'
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise VcmError("not a vcm detections file (no 'images' list)", path=path, fix=fix)
    out = []
    for i, im in enumerate(doc["images"]):
        try:
            dets = tuple(Detection.from_json(d) for d in im.get("detections", []))
            for d in dets:
                if len(d.box) != 4:
                    raise ValueError("box needs 4 numbers")
            out.append((str(im["file"]), Detections(int(im.get("width", 0)), int(im.get("height", 0)), dets)))
        except (KeyError, TypeError, ValueError) as e:
            raise VcmError(f"image entry {i} is malformed ({type(e).__name__}: {e})", path=path, fix=fix) from e
    return out


def read_json_file(path: str | Path) -> Any:
    from vcm.fsutil import read_json_checked

    return read_json_checked(path, fix="give a JSON file")


def read_detections_json(path: str | Path) -> list[tuple[str, Detections]]:
    return parse_detections_document(read_json_file(path), path)
