"""Ground truth in COCO "instances" format: read, write, and make from detections (pseudo ground truth).

No package ships a COCO subset with annotations, so vcm's usual ground truth is *pseudo* ground truth: the
detector's boxes on the original, uncompressed picture, each taken as a true object (iscrowd 0, area = box
area). Written as COCO JSON (with the detector's description under "info"), a run can be repeated exactly
and scored with any COCO tool. Real COCO annotation files work the same way.

Category ids: one scheme in every COCO file vcm writes or reads, COCO's own category ids as pycocotools and
real COCO annotation files have them (person = 1, bus = 6, toothbrush = 90), with the names in `categories`.
A detector numbers its classes from 0 (person = 0); `category_id_of` maps a COCO-80 class name to its COCO id
and any other class to its id + 1. A file whose COCO-80 names carry the 0-based ids (person = 0) is refused,
naming that scheme, rather than scored as other classes. Predictions are matched to ground-truth categories by
name first, then by that id.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from vcm.errors import VcmError
from vcm.types import Detection, Detections


MAX_COORD = 65536.0  # pixels: no picture vcm reads is larger (16384 a side); 1e308 is a broken file, not a box


def box_problem(x: float, y: float, w: float, h: float) -> str | None:
    """Why a box (x, y, width, height; finite numbers) is no box: a negative width or height (an inverted
    box) or a coordinate beyond MAX_COORD pixels. None for a valid box."""
    if w < 0 or h < 0:
        return f"width and height {w:g}, {h:g} must not be negative (inverted box)"
    if max(abs(x), abs(y), abs(x + w), abs(y + h)) > MAX_COORD:
        return f"coordinates beyond {MAX_COORD:g} px ({x:g}, {y:g}, {w:g}, {h:g})"
    return None


def score_problem(score: float) -> str | None:
    """Scores are confidences in 0..1."""
    return None if 0.0 <= score <= 1.0 else f"score {score:g} is outside 0..1"


def duplicate_name(names: Iterable[str]) -> str | None:
    """The first picture name listed twice (compared as written), else None."""
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return None


def _bbox_xywh(box: Sequence[float]) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)]


def detections_to_coco(entries: Iterable[tuple[str, Detections]], *, categories: Mapping[int, str] | None = None,
                       info: Mapping[str, Any] | None = None,
                       dont_care: Mapping[str, Detections] | None = None) -> dict[str, Any]:
    """Pseudo ground truth: one COCO image per (file name, Detections), one annotation per detection.

    `categories` (class id -> name) lists every class even if absent from these pictures; by default the
    classes seen. Scores are kept as an extra "score" key (COCO tools ignore it). `dont_care` (file name ->
    detections) become `iscrowd` annotations: a box found there is neither a hit nor a false alarm (the
    boxes between the detect and keep scores of the two-threshold rule).
    """
    dont_care = dont_care or {}
    images, annotations = [], []
    cats: dict[int, str] = {}

    def category(class_id: int, label: str) -> int:
        cid = category_id_of(class_id, label)
        if cats.setdefault(cid, str(label)) != str(label):
            raise VcmError(f"classes {cats[cid]!r} and {label!r} would share COCO category id {cid}",
                           fix="rename the detector's classes (COCO-80 names take COCO's ids, others their id + 1)")
        return cid

    for class_id, label in sorted((categories or {}).items()):
        category(int(class_id), label)
    for image_id, (name, dets) in enumerate(entries, start=1):
        images.append({"id": image_id, "file_name": str(name), "width": int(dets.width), "height": int(dets.height)})
        for crowd, group in ((0, dets), (1, dont_care.get(str(name), ()))):
            for d in group:
                x, y, w, h = _bbox_xywh(d.box)
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": category(int(d.class_id), d.label), "bbox": [x, y, w, h],
                                    "area": round(w * h, 3), "iscrowd": crowd, "score": float(d.score)})
    return {"info": dict(info or {"description": "vcm pseudo ground truth"}), "images": images,
            "annotations": annotations,
            "categories": [{"id": int(k), "name": str(v)} for k, v in sorted(cats.items())]}


def validate_coco(coco: Any, path: str | Path | None = None) -> dict[str, Any]:
    """Check the parts of a COCO instances file that mAP needs; fill iscrowd/area/ids where missing."""
    fix = "give a COCO instances JSON with images, annotations and categories"
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise VcmError("not a COCO instances file (no 'images' list)", path=path, fix=fix)
    if not isinstance(coco.get("annotations", []), list) or not isinstance(coco.get("categories", []), list):
        raise VcmError("'annotations' and 'categories' must be lists", path=path, fix=fix)
    coco.setdefault("annotations", [])
    coco.setdefault("categories", [])
    ids = set()
    for i, im in enumerate(coco["images"]):
        if not isinstance(im, dict) or "id" not in im:
            raise VcmError("an image entry has no 'id'", path=path, fix=fix)
        if im["id"] in ids:
            raise VcmError(f"image entry {i} repeats image id {im['id']}", path=path,
                           fix="give every picture one entry with its own id")
        ids.add(im["id"])
    twice = duplicate_name(str(im["file_name"]) for im in coco["images"] if "file_name" in im)
    if twice is not None:
        first, again = [i for i, im in enumerate(coco["images"]) if str(im.get("file_name")) == twice][:2]
        raise VcmError(f"picture {twice} is listed twice (image entries {first} and {again})", path=path,
                       fix="list every picture once: merge its annotations under one image id")
    cat_ids = {c.get("id") for c in coco["categories"] if isinstance(c, dict)}
    check_category_scheme(coco["categories"], path)
    for i, a in enumerate(coco["annotations"]):
        if not isinstance(a, dict) or "bbox" not in a or "image_id" not in a or "category_id" not in a:
            raise VcmError(f"annotation {i} lacks bbox, image_id or category_id", path=path, fix=fix)
        if a["image_id"] not in ids:
            raise VcmError(f"annotation {i} refers to image_id {a['image_id']}, which is not in 'images'",
                           path=path, fix=fix)
        if a["category_id"] not in cat_ids:
            raise VcmError(f"annotation {i} has category_id {a['category_id']}, which is not in 'categories'",
                           path=path, fix=fix)
        b = a["bbox"]
        if not (isinstance(b, list) and len(b) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in b)):
            raise VcmError(f"annotation {i}: bbox must be [x, y, width, height]", path=path, fix=fix)
        why = box_problem(*(float(v) for v in b))
        if why:
            raise VcmError(f"annotation {i} (image_id {a['image_id']}): bbox {why}", path=path,
                           fix="give bbox as [x, y, width, height] in pixels of the picture")
        a.setdefault("iscrowd", 0)
        a.setdefault("area", float(b[2]) * float(b[3]))
        a.setdefault("id", i + 1)
    return coco


def check_category_scheme(categories: Sequence[Any], path: str | Path | None = None) -> None:
    """Refuse categories numbered the detectors' way (COCO-80 names with 0-based ids, person = 0): read as COCO
    ids they would score every box as another class (0 -> nothing, 1 -> person ...)."""
    from vcm.detect.coco import COCO80_NAMES, coco_category_id

    for c in categories:
        if not isinstance(c, dict):
            continue
        name = str(c.get("name", "")).strip().lower()
        if name in COCO80_NAMES and c.get("id") == COCO80_NAMES.index(name):  # COCO's own id is always larger
            raise VcmError(f"its categories use the detectors' 0-based class ids ({name} = {c['id']}), not COCO "
                           f"category ids ({name} = {coco_category_id(COCO80_NAMES.index(name))})", path=path,
                           fix="rewrite it with COCO category ids (as `vcm detect --coco-gt` writes now)")


def check_result_scheme(results: Sequence[Mapping[str, Any]], coco_gt: Mapping[str, Any],
                        path: str | Path | None = None) -> None:
    """Refuse COCO results numbered the detectors' way against COCO-id ground truth: a category id COCO does not
    have (0, 12, 26, ... or above 90) that the ground truth lacks too."""
    from vcm.detect.coco import CATEGORY_TO_COCO80, COCO80_NAMES

    gt_ids = {c["id"] for c in coco_gt["categories"]}
    if not any(str(c.get("name", "")).strip().lower() in COCO80_NAMES for c in coco_gt["categories"]):
        return  # ground truth of other classes: ids are its own
    for i, r in enumerate(results):
        cid = r.get("category_id")
        if cid not in gt_ids and cid not in CATEGORY_TO_COCO80:
            raise VcmError(f"result {i} has category_id {cid}, which is no COCO category id: the file seems to "
                           "use the detectors' 0-based class ids (person = 0), not COCO's (person = 1)", path=path,
                           fix="write results with COCO category ids (`vcm detect --coco` does)")


def read_coco(path: str | Path) -> dict[str, Any]:
    from vcm.fsutil import read_json_checked

    p = Path(path)
    return validate_coco(read_json_checked(p, fix="give a COCO instances JSON file"), p)


def write_coco(path: str | Path, coco: Mapping[str, Any]) -> None:
    from vcm.fsutil import write_json_atomic

    write_json_atomic(path, coco)


def image_ids_by_name(coco: Mapping[str, Any]) -> dict[str, int]:
    """file_name -> image id, and base name -> id where base names are unique (paths may differ)."""
    out: dict[str, int] = {}
    base_count: dict[str, int] = {}
    for im in coco["images"]:
        base = Path(str(im.get("file_name", ""))).name
        base_count[base] = base_count.get(base, 0) + 1
    for im in coco["images"]:
        name = str(im.get("file_name", ""))
        out[name] = im["id"]
        base = Path(name).name
        if base_count[base] == 1:
            out.setdefault(base, im["id"])
    return out


def coco_to_detections(coco: Mapping[str, Any]) -> dict[int, tuple[str, Detections]]:
    """Image id -> (file name, its annotations as Detections with score 1 unless a score is stored)."""
    names = {c["id"]: str(c.get("name", c["id"])) for c in coco["categories"]}
    per: dict[int, list[Detection]] = {im["id"]: [] for im in coco["images"]}
    for a in coco["annotations"]:
        x, y, w, h = (float(v) for v in a["bbox"])
        name = names[a["category_id"]]
        per[a["image_id"]].append(Detection((x, y, x + w, y + h), class_id_of(int(a["category_id"]), name), name,
                                            float(a.get("score", 1.0))))
    out = {}
    for im in coco["images"]:
        out[im["id"]] = (str(im.get("file_name", im["id"])),
                         Detections(int(im.get("width", 0)), int(im.get("height", 0)), tuple(per[im["id"]])))
    return out


def category_lookup(coco: Mapping[str, Any]):
    """A function (class_id, label) -> the GT category id: same name first, then same id, else None."""
    by_name = {str(c.get("name")): c["id"] for c in coco["categories"]}
    ids = {c["id"] for c in coco["categories"]}

    def lookup(class_id: int, label: str) -> int | None:
        if label in by_name:
            return by_name[label]
        cid = category_id_of(class_id, label)
        return cid if cid in ids else None

    return lookup


def detections_to_results(coco_gt: Mapping[str, Any], per_image: Mapping[int, Detections]) -> list[dict[str, Any]]:
    """COCO "results" (one dict per box: image_id, category_id, bbox xywh, score) for GT image ids.

    Detections of a class the ground truth does not have are dropped: they cannot match anything, and
    COCO evaluates only the ground truth's categories.
    """
    lookup = category_lookup(coco_gt)
    out = []
    for image_id, dets in per_image.items():
        for d in dets:
            cat = lookup(int(d.class_id), d.label)
            if cat is None:
                continue
            out.append({"image_id": image_id, "category_id": cat, "bbox": _bbox_xywh(d.box), "score": float(d.score)})
    return out


def category_id_of(class_id: int, label: str) -> int:
    """The COCO category id of a detector class: COCO's id (1..90) for a COCO-80 class name, else class id + 1
    (COCO ids start at 1). The one mapping every COCO file vcm writes uses."""
    from vcm.detect.coco import COCO80_NAMES, coco_category_id

    name = str(label).strip().lower()
    return coco_category_id(COCO80_NAMES.index(name)) if name in COCO80_NAMES else int(class_id) + 1


def class_id_of(category_id: int, name: str) -> int:
    """The inverse of `category_id_of`: a COCO category back to the detector's 0-based class id."""
    from vcm.detect.coco import COCO80_NAMES

    n = str(name).strip().lower()
    return COCO80_NAMES.index(n) if n in COCO80_NAMES else int(category_id) - 1


def coco_category(d: Detection) -> int:
    """The COCO category id of a detection (`category_id_of`)."""
    return category_id_of(int(d.class_id), d.label)


def detections_to_coco_results(entries: Iterable[tuple[str, Detections]]) -> list[dict[str, Any]]:
    """COCO results (the list pycocotools' `loadRes` reads): image ids 1..N in the order of `entries` (as
    `detections_to_coco` numbers them), COCO category ids, bbox x, y, w, h, score."""
    out = []
    for image_id, (_name, dets) in enumerate(entries, start=1):
        for d in dets:
            x, y, w, h = _bbox_xywh(d.box)
            out.append({"image_id": image_id, "category_id": coco_category(d), "bbox": [x, y, w, h],
                        "score": round(float(d.score), 6)})
    return out
