"""`prior`: a weight-free JRD guess, a small table looked up by box size (and detection score).

The bundled table, `vcm/data/jrd_prior.json`, is fitted on the OW-JRD labels (another detector, no classes, no
scores), by box size and shape, so it works with any detector; it ships with how it was fitted (data,
cross-validated error, command). `tools/fit_prior.py DATASET -o T.json` fits a table on a detector's own labels
(a `vcm label` dataset), by detection score and box size; `--jrd prior:T.json` uses it.
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


BUNDLED = "jrd_prior.json"  # the OW-JRD size table: any detector


@lru_cache(maxsize=4)
def load_prior(path: str | None = None) -> dict[str, Any]:
    """A prior table: the bundled one, or a json written by tools/fit_prior.py."""
    try:
        text = Path(path).read_text() if path else resources.files("vcm.data").joinpath(BUNDLED).read_text()
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        raise VcmError(f"cannot read the JRD prior table ({e})", path=path or f"vcm/data/{BUNDLED}",
                       fix="rebuild it with tools/fit_prior.py") from None
    if doc.get("format") != FORMAT:
        raise VcmError(f"not a {FORMAT} table", path=path, fix="rebuild it with tools/fit_prior.py")
    doc["sha256"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    doc["source"] = str(path) if path else BUNDLED
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
    elif group == "score":  # a table fitted on a detector's own labels (tools/fit_prior.py DATASET)
        g = bisect.bisect_right(table["score_edges"], detection.score)
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
        return {"predictor": "prior" + (f":{self.path}" if self.path else ""), "table": self.table["source"],
                "table_sha256": self.table["sha256"], "cv_mae": self.table["fit"]["cv_mae_chosen"]}
