"""`fixed:Q`: every object gets the same JRD Q, a baseline and a way to force one object QP."""
from __future__ import annotations

from typing import Any

import numpy as np

from vcm.errors import VcmError
from vcm.jrd.base import NUM_CLASSES, JRDPredictor
from vcm.types import Detections, ObjectJRD


def parse_qp(text: str | int | None, what: str = "QP") -> int:
    """An integer 0..63 from a spec argument, or a VcmError that says what is wrong."""
    try:
        q = int(str(text).strip())
    except ValueError:
        raise VcmError(f"{what} {text!r} is not an integer", fix="give a whole number 0..63, e.g. fixed:37") from None
    if not 0 <= q < NUM_CLASSES:
        raise VcmError(f"{what} {q} is outside 0..63", fix="give a VVC QP between 0 and 63")
    return q


class FixedPredictor(JRDPredictor):
    name = "fixed"

    def __init__(self, arg: str | None = None, **_: Any):
        if arg is None:
            raise VcmError("the fixed predictor needs a QP", fix="write it as fixed:Q, e.g. --jrd fixed:37")
        self.qp = parse_qp(arg, "fixed JRD")

    def predict(self, picture: np.ndarray, detections: Detections, others=()) -> list[ObjectJRD]:
        return [ObjectJRD(d, self.qp, "fixed", {}) for d in detections]

    def describe(self) -> dict[str, Any]:
        return {"predictor": f"fixed:{self.qp}"}
