"""Object detectors behind one interface: `create_detector(spec).detect(pictures) -> list[Detections]`.

Specs: `hog-person` (OpenCV's trained HOG+SVM pedestrian detector; the offline default), `haar-face`,
`haar-fullbody`, `haar-upperbody` (OpenCV Haar cascades), or ultralytics weights / model yaml
(`yolo11n.pt`, `runs/best.pt`, `rtdetr-l.pt`). Heavy libraries load only when a backend is built.
"""
from vcm.detect.base import (DEFAULT_DETECTOR, OFFLINE_FIX, Detector, create_detector, is_ultralytics_spec,
                             known_detectors, register_detector)

__all__ = ["DEFAULT_DETECTOR", "OFFLINE_FIX", "Detector", "create_detector", "is_ultralytics_spec",
           "known_detectors", "register_detector"]
