"""`prior`: a weight-free JRD guess from box size and shape, a table fitted on the OW-JRD labels.

The table and how it was fitted (data, cross-validated error, command) ship in `vcm/data/jrd_prior.json`;
`tools/fit_prior.py` rebuilds it. OW-JRD has no class labels, so the prior ignores class names and works with
any detector.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vcm.errors import VcmError
from vcm.jrd.base import JRDPredictor
from vcm.types import Detection, Detections, ObjectJRD

FORMAT = "vcm-jrd-prior/1"


@lru_cache(maxsize=4)
def load_prior(path: str | None = None) -> dict[str, Any]:
    """The prior table: the bundled one, or a json written by tools/fit_prior.py."""
    try:
        text = Path(path).read_text() if path else resources.files("vcm").joinpath("data/jrd_prior.json").read_text()
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        raise VcmError(f"cannot read the JRD prior table ({e})", path=path or "vcm/data/jrd_prior.json",
                       fix="rebuild it with tools/fit_prior.py") from None
    if doc.get("format") != FORMAT:
        raise VcmError(f"not a {FORMAT} table", path=path, fix="rebuild it with tools/fit_prior.py")
    doc["sha256"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return doc


def prior_jrd(table: dict[str, Any], detection: Detection, count: int = 1) -> tuple[int, dict[str, Any]]:
    """Look one detection up: (jrd, the cell used)."""
    x1, y1, x2, y2 = detection.box
    w, h = max(1.0, x2 - x1), max(1.0, y2 - y1)
    b = bisect.bisect_right(table["log2_area_edges"], math.log2(w * h))
    group = table.get("group")
    g = 0
    if group == "aspect":
        g = int(h / w > 1.5)
    elif group == "count":
        g = bisect.bisect_right([2, 5], count)
    return int(table["table"][g][b]), {"area_bin": b, "group": g}


class PriorPredictor(JRDPredictor):
    name = "prior"

    def __init__(self, arg: str | None = None, **_: Any):
        self.path = arg  # `prior:my_table.json` uses another table
        self.table = load_prior(arg)

    def predict(self, picture: np.ndarray, detections: Detections, others=()) -> list[ObjectJRD]:
        out = []
        for d in detections:
            jrd, cell = prior_jrd(self.table, d, len(detections))
            out.append(ObjectJRD(d, jrd, "prior", cell))
        return out

    def describe(self) -> dict[str, Any]:
        return {"predictor": "prior" + (f":{self.path}" if self.path else ""), "table_sha256": self.table["sha256"],
                "cv_mae": self.table["fit"]["cv_mae_chosen"]}
