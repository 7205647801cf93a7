"""The detections file that `vcm detect --json` writes and `vcm map` reads.

    {"detector": {...describe()...},
     "images": [{"file": "bus.jpg", "width": 810, "height": 1080,
                 "detections": [{"box": [x1, y1, x2, y2], "label": "person", "class_id": 0, "score": 0.91}]}]}

Boxes are in pixels of the picture as read (x1, y1 top-left, x2, y2 bottom-right, exclusive).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from vcm.detect.coco import COCO80_NAMES
from vcm.errors import VcmError
from vcm.gt import box_problem, duplicate_name, score_problem
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


COCO80_DETECTORS = ("nanodet", "centernet")  # built-in detectors whose classes are COCO-80 (vcm.detect.coco)


def parse_detections_document(doc: Any, path: str | Path | None = None) -> list[tuple[str, Detections]]:
    fix = 'give a file written by "vcm detect --json"'
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise VcmError("not a vcm detections file (no 'images' list)", path=path, fix=fix)
    out = []
    labels: dict[int, tuple[str, str]] = {}  # class id -> (its label, where first seen)
    spec = doc.get("detector", {}).get("detector") if isinstance(doc.get("detector"), dict) else None
    coco80 = spec in COCO80_DETECTORS  # the built-in COCO-80 detectors: class ids 0..79 with COCO's names
    for i, im in enumerate(doc["images"]):
        try:
            dets = tuple(Detection.from_json(d) for d in im.get("detections", []))
            for d in dets:
                if len(d.box) != 4:
                    raise ValueError("box needs 4 numbers")
            out.append((str(im["file"]), Detections(int(im.get("width", 0)), int(im.get("height", 0)), dets)))
        except (KeyError, TypeError, ValueError) as e:
            raise VcmError(f"image entry {i} is malformed ({type(e).__name__}: {e})", path=path, fix=fix) from e
        for k, d in enumerate(dets):
            where = f"image entry {i} ({out[-1][0]}), detection {k}"
            x1, y1, x2, y2 = d.box
            why = box_problem(x1, y1, x2 - x1, y2 - y1) or score_problem(d.score)
            if why is None and d.class_id < 0:
                why = f"class_id {d.class_id} is negative"
            if why is None and coco80 and (d.class_id >= len(COCO80_NAMES) or COCO80_NAMES[d.class_id] != d.label):
                why = (f"class_id {d.class_id} {d.label!r} is not a class of {spec} (COCO-80: ids 0..79"
                       + (f", {d.label!r} is {COCO80_NAMES.index(d.label)})" if d.label in COCO80_NAMES else ")"))
            if why is None and labels.setdefault(d.class_id, (d.label, where))[0] != d.label:
                label, first = labels[d.class_id]
                why = f"class_id {d.class_id} is {d.label!r} here but {label!r} at {first}"
            if why:
                raise VcmError(f"{where}: {why}", path=path,
                               fix="boxes are [x1, y1, x2, y2] pixels with x1 <= x2, y1 <= y2; scores 0..1; "
                                   "one label per class_id")
    twice = duplicate_name(name for name, _ in out)
    if twice is not None:
        raise VcmError(f"picture {twice} is listed twice", path=path, fix="list every picture once")
    return out


def read_json_file(path: str | Path) -> Any:
    from vcm.fsutil import read_json_checked

    return read_json_checked(path, fix="give a JSON file")


def read_detections_json(path: str | Path) -> list[tuple[str, Detections]]:
    return parse_detections_document(read_json_file(path), path)
