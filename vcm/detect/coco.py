"""COCO-80: the class names the COCO detectors return (0-based ids) and their COCO category ids (1..90).

Detectors number the 80 classes 0..79; COCO annotation files use the original 90-slot category ids. Exports to
COCO json map through `COCO80_TO_CATEGORY`; imports map back through `CATEGORY_TO_COCO80`.
"""
from __future__ import annotations

COCO80_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
COCO80: dict[int, str] = dict(enumerate(COCO80_NAMES))
COCO80_TO_CATEGORY: tuple[int, ...] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34,
    35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)
CATEGORY_TO_COCO80: dict[int, int] = {c: i for i, c in enumerate(COCO80_TO_CATEGORY)}
assert len(COCO80_NAMES) == 80 and len(COCO80_TO_CATEGORY) == 80


def coco_category_id(class_id: int) -> int:
    """0-based COCO-80 class -> COCO category id (1..90)."""
    return COCO80_TO_CATEGORY[int(class_id)]


def coco80_id(name_or_id: str | int) -> int:
    """A class given by COCO-80 name ("person") or 0-based id ("0", 0) -> 0-based id; ValueError if unknown."""
    if isinstance(name_or_id, int) or str(name_or_id).strip().isdigit():
        i = int(name_or_id)
        if 0 <= i < 80:
            return i
        raise ValueError(f"COCO-80 class id {i} is outside 0..79")
    name = str(name_or_id).strip().lower()
    if name in COCO80_NAMES:
        return COCO80_NAMES.index(name)
    raise ValueError(f"unknown COCO-80 class {name_or_id!r}")
