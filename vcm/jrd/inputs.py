"""The per-object inputs a DT-JRD head may take beside the crop's features (as AMT-JRD adds them): box size and
shape, position in the picture, the detector's score and class. DT-JRD itself sees only the crop, stretched to
the network's input size: it cannot see how large the object is, which the box-size prior shows matters most.

`object_inputs(names, box, width, height, score, class_label)` gives the vector, in the order of `names`; a
checkpoint records its `names` (ModelConfig.inputs) so the predictor builds the same vector from a detection.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from vcm.errors import VcmError

INPUTS = {
    "log2_area": "log2 of the box area in pixels (what the prior looks up)",
    "log2_rel_area": "log2 of the box area over the picture's area",
    "log2_aspect": "log2 of height / width",
    "cx": "box centre x over the picture width (0..1)",
    "cy": "box centre y over the picture height (0..1)",
    "score": "the detector's score on the original",
    "person": "1 for the class 'person', else 0",
    "prior": "the shipped box-size prior's JRD for the box (vcm/data/jrd_prior.json)",
}


def object_inputs(names: Sequence[str], box: Sequence[float], width: int, height: int, score: float,
                  label: str) -> np.ndarray:
    """float32 vector of the named inputs of one object."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(1.0, x2 - x1), max(1.0, y2 - y1)
    vals = {"log2_area": math.log2(w * h), "log2_rel_area": math.log2(w * h / max(1.0, float(width) * height)),
            "log2_aspect": math.log2(h / w), "cx": (x1 + x2) / 2 / max(1, width), "cy": (y1 + y2) / 2 / max(1, height),
            "score": float(score), "person": float(label == "person")}
    if "prior" in names:
        from vcm.jrd.prior import load_prior, prior_jrd
        from vcm.types import Detection

        vals["prior"] = float(prior_jrd(load_prior(), Detection((x1, y1, x2, y2), -1, label, float(score)))[0])
    unknown = [n for n in names if n not in vals]
    if unknown:
        raise VcmError(f"unknown DT-JRD input {unknown[0]!r}", fix=f"use some of {', '.join(INPUTS)}")
    return np.array([vals[n] for n in names], np.float32)


__all__ = ["INPUTS", "object_inputs"]
