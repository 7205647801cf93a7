"""Pictures with their detections drawn on, for a human to check what the detector saw (`vcm detect --draw`) and
what `vcm encode` did with each object (`vcm encode --draw`)."""
from __future__ import annotations

import numpy as np

from vcm.types import Detections

_PALETTE = [(255, 56, 56), (56, 136, 255), (72, 249, 10), (255, 178, 29), (207, 210, 49), (146, 204, 23),
            (255, 55, 199), (0, 212, 187), (132, 56, 255), (82, 0, 133)]


# `vcm encode --draw`: still detected in the written file, lost there, not checked, not kept (weak or unprotectable)
KEPT, LOST, UNCHECKED, NOT_KEPT = (40, 200, 40), (230, 30, 30), (255, 178, 29), (150, 150, 150)


def _font(h: int, w: int, thickness: int | None) -> tuple[int, float, int]:
    """Box line thickness, text scale and text thickness for a picture of this size."""
    t = thickness or max(1, round(max(h, w) / 400))
    return t, max(0.4, max(h, w) / 1600), max(1, t - 1)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(width: int, height: int, boxes, sizes) -> list[tuple[int, int, int, int]]:
    """One caption rectangle (x1, y1, x2, y2) per box, `sizes` their (width, height): inside the picture (moved
    left at the right edge, never cut) and not over an earlier caption. Tried in order: above the box, inside
    its top, below it, inside its bottom; else the free place nearest below the box's top."""
    placed: list[tuple[int, int, int, int]] = []
    for box, (tw, th) in zip(boxes, sizes):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        tw, th = min(tw, width), min(th, height)
        x = min(max(0, x1), width - tw)

        def rect(y: int) -> tuple[int, int, int, int]:
            y = min(max(0, y), height - th)
            return (x, y, x + tw, y + th)

        tries = [rect(y1 - th), rect(y1), rect(y2), rect(y2 - th)]
        tries += [rect(y) for y in range(max(0, y1 - th), height - th + 1, max(1, th // 2))]
        tries += [rect(y) for y in range(max(0, y1 - th), -1, -max(1, th // 2))]
        free = [r for r in tries if not any(_overlaps(r, q) for q in placed)]
        placed.append(free[0] if free else tries[0])
    return placed


def _boxes(rgb: np.ndarray, boxes, thickness: int | None = None) -> np.ndarray:
    """A copy of `rgb` with one box and a caption per (box, text, colour); captions are drawn after every box,
    inside the picture and apart from each other (place_labels)."""
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    t, scale, tt = _font(h, w, thickness)
    sizes, bases = [], []
    for _, text, _ in boxes:
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, tt)
        sizes.append((tw + 4, th + base + 4))
        bases.append(base)
    for box, _, colour in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, t)
    for (box, text, colour), (lx1, ly1, lx2, ly2), base in zip(boxes, place_labels(w, h, [b[0] for b in boxes], sizes),
                                                               bases):
        cv2.rectangle(out, (lx1, ly1), (lx2 - 1, ly2 - 1), colour, -1)
        cv2.putText(out, text, (lx1 + 2, ly2 - base - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), tt,
                    cv2.LINE_AA)
    return out


def label_rects(rgb_shape, texts_boxes, thickness: int | None = None) -> list[tuple[int, int, int, int]]:
    """The caption rectangles `_boxes` draws for these (box, text) pairs (for tests and callers that check)."""
    import cv2

    h, w = rgb_shape[:2]
    _, scale, tt = _font(h, w, thickness)
    sizes = []
    for _, text in texts_boxes:
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, tt)
        sizes.append((tw + 4, th + base + 4))
    return place_labels(w, h, [b for b, _ in texts_boxes], sizes)


def draw_detections(rgb: np.ndarray, dets: Detections, *, thickness: int | None = None) -> np.ndarray:
    """A copy of `rgb` with one box and "label score" per detection (colour by class)."""
    return _boxes(rgb, [(d.box, f"{d.label} {d.score:.2f}", _PALETTE[d.class_id % len(_PALETTE)]) for d in dets],
                  thickness)


def coded_object_captions(objects) -> list[tuple[tuple[float, ...], str, tuple[int, int, int]]]:
    """(box, caption, colour) of every object of a `vcm encode` report (see draw_coded_objects)."""
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
    return boxes


def draw_coded_objects(rgb: np.ndarray, objects) -> np.ndarray:
    """`rgb` (`vcm encode --draw` passes the written file, decoded) with every object of a `vcm encode`
    report (its `objects` list): "label score JRD j QP q" and whether the decoded file still shows it: green
    still detected, red lost, orange not checked (--no-check), grey not kept (below the keep score, or no QP
    keeps it)."""
    return _boxes(rgb, coded_object_captions(objects))
