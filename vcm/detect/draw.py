"""Pictures with their detections drawn on, for a human to check what the detector saw (`vcm detect --draw`) and
what `vcm encode` did with each object (`vcm encode --draw`)."""
from __future__ import annotations

import numpy as np

from vcm.types import Detections

_PALETTE = [(255, 56, 56), (56, 136, 255), (72, 249, 10), (255, 178, 29), (207, 210, 49), (146, 204, 23),
            (255, 55, 199), (0, 212, 187), (132, 56, 255), (82, 0, 133)]


# `vcm encode --draw`: still detected in the written file, lost there, not checked, not kept (weak or unprotectable)
KEPT, LOST, UNCHECKED, NOT_KEPT = (40, 200, 40), (230, 30, 30), (255, 178, 29), (150, 150, 150)


def _boxes(rgb: np.ndarray, boxes, thickness: int | None = None) -> np.ndarray:
    """A copy of `rgb` with one box and a caption per (box, text, colour)."""
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    t = thickness or max(1, round(max(h, w) / 400))
    scale = max(0.4, max(h, w) / 1600)
    for box, text, colour in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, t)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, t - 1))
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + base - 2), colour, -1)
        cv2.putText(out, text, (x1 + 1, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, t - 1),
                    cv2.LINE_AA)
    return out


def draw_detections(rgb: np.ndarray, dets: Detections, *, thickness: int | None = None) -> np.ndarray:
    """A copy of `rgb` with one box and "label score" per detection (colour by class)."""
    return _boxes(rgb, [(d.box, f"{d.label} {d.score:.2f}", _PALETTE[d.class_id % len(_PALETTE)]) for d in dets],
                  thickness)


def draw_coded_objects(rgb: np.ndarray, objects) -> np.ndarray:
    """The picture with every object of a `vcm encode` report (its `objects` list): "label score JRD j QP q"
    and whether the decoded file still shows it: green still detected, red lost, orange not checked
    (--no-check), grey not kept (below the keep score, or no QP keeps it)."""
    boxes = []
    for o in objects:
        jrd = "" if o.get("jrd") is None else f" JRD {o['jrd']}"
        if not o.get("kept"):
            colour, mark = NOT_KEPT, f" ({o.get('status', 'not kept')})"
        elif o.get("still_detected") is None:
            colour, mark = UNCHECKED, ""
        else:
            colour, mark = (KEPT, " ok") if o["still_detected"] else (LOST, " LOST")
        boxes.append((o["box"], f"{o['label']} {o['score']:.2f}{jrd} QP {o['qp']}{mark}", colour))
    return _boxes(rgb, boxes)
