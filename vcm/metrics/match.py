"""The one "still detected" rule of vcm (the JRD criterion), and the IoU it is built on.

An object found on the original picture is *still detected* on a coded picture when the detector, run on
the coded picture, returns a box of the same class whose IoU with the original box is at least `iou`
(default 0.5) and whose score is at least `min_score`. The JRD search, `vcm label`, the encoder's final
check, the benchmark and the tests all call `still_detected` / `still_detected_all`, so the criterion
lives here and nowhere else.

Hysteresis (two thresholds): an object the machine *must keep* is one whose score on the original is at
least `keep_score`; it is *still detected* on a coded picture when a same-class box with IoU >= `iou` scores at
least the lower `min_score` (the detect score). A box that sits near one threshold is then neither counted as
lost by noise (its coded score may dip below keep_score) nor protected at any price (boxes under keep_score
are not objects to keep: they are coded with the background and cost no extra bits). `must_keep()` picks the
objects to keep; search, `vcm label`, the encoder's final check, benchmark pseudo ground truth and the tests
all use it.

Detectors already drop boxes under their own confidence threshold, so `min_score=None` means "whatever the
detector returned"; `StillDetectedRule.for_detector(det)` takes the detector's threshold as the detect score
and `KEEP_SCORE` (or the detector's threshold, if higher) as the keep score.

What mAP sees (`for_detector`'s defaults, MATCH_IOU and RANK): a box that merely survives the detect score can
still cost mAP. Measured on pictures nobody tuned on, the oracle kept 39/40 objects at IoU >= 0.5 and score >= 0.3,
but their scores fell to a median 0.41 and their IoU with the original box to 0.81, so false boxes of 0.3-0.41
ranked above true ones and mAP@0.5 fell to 0.78. The default rule therefore also asks an IoU of MATCH_IOU (0.75,
MT-JRD's similarity threshold: mAP@0.5:0.95 rewards it) and, with `rank`, that the matching box outscores every
false box of its class on the coded picture (a box that matches no detection of the original), so no false box
ranks above a kept object in that picture's precision-recall order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from vcm.types import Detection, Detections

KEEP_SCORE = 0.5  # score on the original from which an object must be kept (measured: docs/POLICY.md)
MATCH_IOU = 0.75  # the default rule's IoU with the original box (measured: docs/POLICY.md "What mAP sees")
RANK = True  # the default rule: a kept object's box outscores every false box of its class on the coded picture


@dataclass(frozen=True)
class StillDetectedRule:
    """Same class, IoU >= `iou` with the original box, score >= `min_score` (None: no extra score bar);
    objects to keep score >= `keep_score` on the original (None: every detection)."""

    iou: float = 0.5
    min_score: float | None = None
    match_by: str = "class_id"  # "class_id" or "label" (use "label" across detectors with other class ids)
    keep_score: float | None = None
    rank: bool = False  # the matching box must outscore every same-class false box on the coded picture

    def __post_init__(self):
        if not 0.0 < self.iou <= 1.0:
            raise ValueError(f"IoU threshold must be in (0, 1], got {self.iou}")
        if self.match_by not in ("class_id", "label"):
            raise ValueError(f"match_by must be 'class_id' or 'label', got {self.match_by!r}")
        if self.keep_score is not None and self.min_score is not None and self.keep_score < self.min_score:
            raise ValueError(f"keep score {self.keep_score} is below the detect score {self.min_score}")

    @property
    def detect_score(self) -> float | None:
        return self.min_score

    @classmethod
    def for_detector(cls, detector: Any, iou: float | None = None, keep_score: float | None = None,
                     detect_score: float | None = None, rank: bool | None = None) -> "StillDetectedRule":
        """The rule with the detector's own confidence threshold as the detect score, `keep_score` (default
        KEEP_SCORE, never below the detect score) for the objects to keep, and what mAP sees (IoU MATCH_IOU,
        `rank` RANK) unless given."""
        det = getattr(detector, "score_threshold", None) if detect_score is None else detect_score
        keep = KEEP_SCORE if keep_score is None else keep_score
        if det is not None:
            keep = max(keep, det)
        return cls(iou=MATCH_IOU if iou is None else float(iou), min_score=det, keep_score=keep,
                   rank=RANK if rank is None else bool(rank))

    def describe(self) -> str:
        """One line for reports: what "still detected" meant in this run."""
        bar = "the detector's threshold" if self.min_score is None else f"{self.min_score:g}"
        return (f"kept when score >= {self.keep_score if self.keep_score is not None else 'any'} on the original; "
                f"still detected by a same-class box with IoU >= {self.iou:g} scoring >= {bar}"
                + (", above every false box of its class" if self.rank else ""))

    def keeps(self, d: Detection) -> bool:
        """Is `d` (a detection on the original) an object the machine must keep?"""
        return self.keep_score is None or d.score >= self.keep_score

    def must_keep(self, detections: Detections | Sequence[Detection]) -> list[int]:
        """Indices of the detections to keep (score >= keep_score), in order."""
        return [i for i, d in enumerate(_candidates(detections)) if self.keeps(d)]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _boxes(items: Iterable[Detection] | np.ndarray) -> np.ndarray:
    if isinstance(items, np.ndarray):
        return items.reshape(-1, 4).astype(np.float64)
    return np.array([d.box for d in items], dtype=np.float64).reshape(-1, 4)


def iou_matrix(a: Iterable[Detection] | np.ndarray, b: Iterable[Detection] | np.ndarray) -> np.ndarray:
    """IoU of every box in `a` with every box in `b` (shape len(a) x len(b)); boxes are x1, y1, x2, y2."""
    A, B = _boxes(a), _boxes(b)
    x1 = np.maximum(A[:, None, 0], B[None, :, 0])
    y1 = np.maximum(A[:, None, 1], B[None, :, 1])
    x2 = np.minimum(A[:, None, 2], B[None, :, 2])
    y2 = np.minimum(A[:, None, 3], B[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(A[:, 2] - A[:, 0], 0, None) * np.clip(A[:, 3] - A[:, 1], 0, None)
    area_b = np.clip(B[:, 2] - B[:, 0], 0, None) * np.clip(B[:, 3] - B[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two boxes x1, y1, x2, y2."""
    return float(iou_matrix(np.asarray(a, float), np.asarray(b, float))[0, 0])


def _candidates(c: Detections | Sequence[Detection]) -> Sequence[Detection]:
    return c.items if isinstance(c, Detections) else list(c)


def _same_class(a: Detection, b: Detection, rule: StillDetectedRule) -> bool:
    return a.label == b.label if rule.match_by == "label" else a.class_id == b.class_id


def still_detected(original: Detection, candidates: Detections | Sequence[Detection],
                   rule: StillDetectedRule = StillDetectedRule()) -> bool:
    """True when some candidate has the original's class, IoU >= rule.iou and score >= rule.min_score."""
    return still_detected_all([original], candidates, rule)[0]


def still_detected_all(originals: Detections | Sequence[Detection], candidates: Detections | Sequence[Detection],
                       rule: StillDetectedRule = StillDetectedRule(),
                       others: Detections | Sequence[Detection] = ()) -> list[bool]:
    """`still_detected` for every original at once (one IoU matrix); order follows `originals`.

    Each original is judged on its own: two originals may be confirmed by the same candidate box, as in
    the per-object JRD definition (an object is recognisable or not, whatever its neighbours do). With
    `rule.rank`, `others` are the original's further detections (e.g. boxes under the keep score): a coded box
    that matches one of them is not a false box.
    """
    orig = _candidates(originals)
    cand = [c for c in _candidates(candidates) if rule.min_score is None or c.score >= rule.min_score]
    if not orig:
        return []
    if not cand:
        return [False] * len(orig)
    M = iou_matrix(orig, cand)
    same = np.array([[_same_class(o, c, rule) for c in cand] for o in orig], dtype=bool)
    ok = (M >= rule.iou - 1e-12) & same
    if rule.rank:
        ok &= _outscores_false_boxes(list(orig) + list(_candidates(others)), cand, rule)[None, :]
    return [bool(v) for v in ok.any(axis=1)]


def _outscores_false_boxes(reference: Sequence[Detection], cand: Sequence[Detection],
                           rule: StillDetectedRule) -> np.ndarray:
    """Per candidate: it scores above every false box of its class, a false box being a candidate that overlaps no
    reference box of its class at IoU >= 0.5 (the loosest match mAP counts)."""
    M = iou_matrix(reference, cand)
    same = np.array([[_same_class(o, c, rule) for c in cand] for o in reference], dtype=bool).reshape(M.shape)
    false = ~((M >= 0.5 - 1e-12) & same).any(axis=0)
    out = np.ones(len(cand), dtype=bool)
    for j, c in enumerate(cand):
        rivals = [cand[k].score for k in np.flatnonzero(false) if k != j and _same_class(c, cand[k], rule)]
        out[j] = not rivals or c.score > max(rivals)
    return out


def best_match_iou(original: Detection, candidates: Detections | Sequence[Detection],
                   rule: StillDetectedRule = StillDetectedRule()) -> float:
    """Highest IoU of a same-class candidate that passes the score bar (0.0 if none): for reports."""
    cand = [c for c in _candidates(candidates)
            if (rule.min_score is None or c.score >= rule.min_score) and _same_class(original, c, rule)]
    if not cand:
        return 0.0
    return float(iou_matrix([original], cand).max())
