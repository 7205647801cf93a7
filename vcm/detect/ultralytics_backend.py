"""YOLO and RT-DETR detectors through ultralytics: local weights (`runs/best.pt`), a model yaml (random
weights: the same code path, for tests and training), or a release name (`yolo11n.pt`) when it can be had.

ultralytics ships no weights and downloads release names from the network. With YOLO_OFFLINE=1 (or no
network) vcm never tries: a missing weights file is a one-line error naming `--detector hog-person`.
Pictures are batched by size (same size -> same letterbox, so a batch gives the boxes single calls give),
on CUDA when available, else CPU (deterministic).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vcm.detect.base import OFFLINE_FIX, Detector, check_pictures, make_detections
from vcm.errors import VcmError
from vcm.types import Detections


def _offline() -> bool:
    return os.environ.get("YOLO_OFFLINE", "").lower() in ("1", "true", "yes")


def resolve_weights(spec: str) -> tuple[str, Path | None]:
    """Where the weights of `spec` are: (what to pass to ultralytics, local file or None = needs download)."""
    p = Path(spec).expanduser()
    if p.is_file():
        return str(p), p
    if p.suffix.lower() in (".yaml", ".yml"):
        return spec, None  # not a local file: one of ultralytics' bundled configs (yolo11n.yaml, rtdetr-l.yaml)
    if p.parent == Path(".") and p.suffix.lower() == ".pt":
        try:  # ultralytics' own weights folder (where a previous online run saved it)
            from ultralytics.utils import SETTINGS

            cand = Path(SETTINGS.get("weights_dir", "")) / p.name
            if cand.is_file():
                return str(cand), cand
        except Exception:  # pragma: no cover - settings unreadable: treat as not there
            pass
    return spec, None


class UltralyticsDetector(Detector):
    """A YOLO/RT-DETR detection model. Options: conf, iou, imgsz, classes, device (auto), batch, half."""

    conf_is_a_filter = True

    def __init__(self, spec: str, *, conf: float = 0.25, iou: float = 0.7, imgsz: int = 640,
                 classes: Sequence[int] | str | None = None, device: str | None = None, batch: int = 16,
                 half: bool = False, **unused: Any):
        if unused:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unused))}")
        if not 0.0 <= conf <= 1.0:
            raise VcmError(f"--conf must be in [0, 1], got {conf}")
        if not 0.0 < iou <= 1.0:
            raise VcmError(f"--iou must be in (0, 1], got {iou}")
        if imgsz < 32 or imgsz % 32:
            raise VcmError(f"--imgsz must be a positive multiple of 32, got {imgsz}")
        self.spec = spec
        self.score_threshold = float(conf)
        self.iou = float(iou)
        self.imgsz = int(imgsz)
        self.batch = max(1, int(batch))
        self.half = bool(half)
        self._model, self._weights = self._load(spec)
        if getattr(self._model, "task", "detect") != "detect":
            raise VcmError(f"model task is {self._model.task!r}, not 'detect'", path=spec,
                           fix="give a detection model (YOLO/RT-DETR detect weights)")
        self._names = {int(k): str(v) for k, v in dict(self._model.names).items()}
        self.classes = self._parse_classes(classes)
        self.device = device or self._auto_device()

    # -- loading -------------------------------------------------------------------------------------
    @staticmethod
    def _load(spec: str):
        from vcm.extras import check_installed
        from vcm.fsutil import sha256_file

        check_installed("ultralytics", "yolo", f"detector {spec!r}")  # first: the light install lacks it
        source, local = resolve_weights(spec)
        is_yaml = source.lower().endswith((".yaml", ".yml"))
        if local is None and not is_yaml and _offline():
            raise VcmError("weights not found locally and YOLO_OFFLINE=1 forbids downloading them", path=spec,
                           fix=OFFLINE_FIX)
        if local is not None and not is_yaml:  # a pickle can run code: refuse unsafe files before ultralytics
            from vcm.safety import UnsafeWeights, check_weights_file  # (torch.load weights_only=False) opens them

            try:
                check_weights_file(local)
            except UnsafeWeights:
                raise
            except VcmError as e:  # damaged or not a checkpoint: the usual message, with the offline way out
                why = str(e).split(": ", 1)[-1].split(". Fix:")[0]
                raise VcmError(f"cannot load the model ({why})", path=spec, fix=OFFLINE_FIX) from None
        from vcm.safety import enable_ultralytics_safe_load

        enable_ultralytics_safe_load()  # second lock: ultralytics' own weights_only loading, where it exists
        import ultralytics

        enable_ultralytics_safe_load()  # (again: the flag is read when ultralytics is imported)
        cls = ultralytics.RTDETR if "rtdetr" in Path(source).name.lower() else ultralytics.YOLO
        try:
            model = cls(source)
        except VcmError:
            raise
        except Exception as e:  # download failure, corrupt file, unknown yaml
            what = ("cannot load the model" if local is not None or is_yaml
                    else "weights not found and the download failed")
            raise VcmError(f"{what} ({type(e).__name__}: {str(e).splitlines()[0][:160]})", path=spec,
                           fix=OFFLINE_FIX) from e
        weights = {"ultralytics": ultralytics.__version__}
        if is_yaml:
            weights["weights_sha256"] = None
            weights["note"] = "built from a yaml: random weights"
            if local is not None:
                weights["config_sha256"] = sha256_file(local)
        elif local is not None and local.is_file():
            weights["weights_sha256"] = sha256_file(local)
            weights["weights_path"] = str(local)
        else:  # downloaded by ultralytics into its weights folder or cwd
            ckpt = getattr(model, "ckpt_path", None)
            if ckpt and Path(ckpt).is_file():
                weights["weights_sha256"] = sha256_file(ckpt)
                weights["weights_path"] = str(ckpt)
        return model, weights

    def _parse_classes(self, classes: Sequence[int] | str | None) -> list[int] | None:
        """Class filter: ids or names (`0,2` or `person,car`), checked against the model's classes."""
        if classes is None or classes == "" or classes == []:
            return None
        items = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(classes)
        by_name = {v: k for k, v in self._names.items()}
        out = []
        for c in items:
            if isinstance(c, str) and not c.lstrip("-").isdigit():
                if c not in by_name:
                    raise VcmError(f"class {c!r} is not one of this model's classes", path=self.spec,
                                   fix=f"use ids or names such as {', '.join(list(by_name)[:5])}")
                out.append(by_name[c])
            else:
                cid = int(c)
                if cid not in self._names:
                    raise VcmError(f"class id {cid} is out of range 0..{max(self._names)}", path=self.spec)
                out.append(cid)
        return sorted(set(out))

    @staticmethod
    def _auto_device() -> str:
        import torch

        return "cuda:0" if torch.cuda.is_available() else "cpu"

    # -- interface -----------------------------------------------------------------------------------
    @property
    def class_names(self) -> dict[int, str]:
        return dict(self._names)

    def describe(self) -> dict[str, Any]:
        return {"detector": self.spec, "backend": "ultralytics", "score_threshold": self.score_threshold,
                "iou": self.iou, "imgsz": self.imgsz, "classes": self.classes, "device": self.device,
                "half": self.half, **self._weights}

    def detect(self, pictures: Sequence[np.ndarray]) -> list[Detections]:
        pics = check_pictures(pictures)
        out: list[Detections | None] = [None] * len(pics)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(pics):
            groups.setdefault(p.shape[:2], []).append(i)
        for idx in groups.values():
            for s in range(0, len(idx), self.batch):
                chunk = idx[s:s + self.batch]
                bgr = [np.ascontiguousarray(pics[i][:, :, ::-1]) for i in chunk]  # ultralytics takes BGR arrays
                extra = {"half": True} if self.half else {}
                results = self._model.predict(bgr, conf=self.score_threshold, iou=self.iou, imgsz=self.imgsz,
                                              classes=self.classes, device=self.device, verbose=False,
                                              batch=len(chunk), **extra)
                for i, r in zip(chunk, results):
                    h, w = pics[i].shape[:2]
                    b = r.boxes
                    if b is None or len(b) == 0:
                        out[i] = Detections(w, h, ())
                        continue
                    out[i] = make_detections(w, h, b.xyxy.cpu().numpy(), b.cls.cpu().numpy().astype(int).tolist(),
                                             self._names, b.conf.cpu().numpy().tolist())
        return [d for d in out if d is not None]
