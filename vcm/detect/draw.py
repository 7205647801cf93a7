"""Pictures with their detections drawn on, for a human to check what the detector saw."""
from __future__ import annotations

import numpy as np

from vcm.types import Detections

_PALETTE = [(255, 56, 56), (56, 136, 255), (72, 249, 10), (255, 178, 29), (207, 210, 49), (146, 204, 23),
            (255, 55, 199), (0, 212, 187), (132, 56, 255), (82, 0, 133)]


def draw_detections(rgb: np.ndarray, dets: Detections, *, thickness: int | None = None) -> np.ndarray:
    """A copy of `rgb` with one box and "label score" per detection (colour by class)."""
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    t = thickness or max(1, round(max(h, w) / 400))
    scale = max(0.4, max(h, w) / 1600)
    for d in dets:
        x1, y1, x2, y2 = (int(round(v)) for v in d.box)
        colour = _PALETTE[d.class_id % len(_PALETTE)]
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, t)
        text = f"{d.label} {d.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, t - 1))
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + base - 2), colour, -1)
        cv2.putText(out, text, (x1 + 1, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, t - 1),
                    cv2.LINE_AA)
    return out
