"""The predictor interface and its registry: `create_predictor("prior")`, `create_predictor("dtjrd:ckpt.pt")`.

A spec is `name` or `name:argument`. Each predictor module registers itself with `register_predictor`;
the registry maps names to "module:Class" strings so that torch is imported only by `dtjrd`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.registry import Registry
from vcm.types import Detection, Detections, ObjectJRD

NUM_CLASSES = 64  # VVC QP classes 0..63


class JRDPredictor(ABC):
    """predict(picture, detections, others) -> one ObjectJRD per detection, in the same order."""

    name: str = ""

    @abstractmethod
    def predict(self, picture: np.ndarray, detections: Detections, others: Sequence[Detection] = ()) -> list[ObjectJRD]:
        """`picture` is RGB uint8 (H, W, 3), the original the detections were made on; `others`: the original's
        further boxes (under the keep score), which the still-detected rule does not count as false boxes when it
        judges a coded picture (only predictors with the detector in the loop use them)."""

    def describe(self) -> dict[str, Any]:
        """Settings to record next to every number this predictor produced (checkpoint hash etc.)."""
        return {"predictor": self.name}


# name -> "module:Class"; the class is constructed as Class(argument_or_None, **options)
_REGISTRY: dict[str, str] = {
    "fixed": "vcm.jrd.fixed:FixedPredictor",
    "prior": "vcm.jrd.prior:PriorPredictor",
    "search": "vcm.jrd.search:SearchPredictor",
    "dtjrd": "vcm.jrd.dtjrd:DTJRDPredictor",
}


def register_predictor(name: str, target: str) -> None:
    _REGISTRY[name] = target


def create_predictor(spec: str, **options: Any) -> JRDPredictor:
    """Build a predictor from its spec string (`fixed:37`, `prior`, `search`, `dtjrd:CKPT`)."""
    name, _, arg = spec.partition(":")
    if name not in _REGISTRY:
        raise VcmError(f"unknown JRD predictor {spec!r}", fix=f"use one of {', '.join(sorted(_REGISTRY))}")
    return Registry("JRD predictor", _REGISTRY).resolve(name, spec=spec)(arg or None, **options)
