"""`search`: measure each object's JRD with the detector itself, in the picture exactly as `objects` mode decodes it.

A *probe* at QP q codes every object crop (box + margin, `vcm.qp.crop_rect`) at q, pastes the decoded crops
over the decoded background (object areas low-pass filled, coded once at the background QP), runs the
detector once on the result and asks the shared "still detected" rule (`vcm.metrics.match`) about every
object. One probe answers all objects at q, so objects share encodes.

The rule, also for non-monotonic responses (an object lost at q may come back at q + 3):
    JRD = the highest q in [qmin, qmax] at which the object is detected at q AND at every QP the coarse-to-fine
    search checks on the way to q: the multiples of 16 up to q, the multiples of 4 from the last multiple of
    16 below q, and every QP from the last multiple of 4 below q (steps 16, 4, 1, counted from qmin).
qmin (0) itself is the floor and is never probed: an object lost everywhere gets JRD qmin.
With a monotone response this is exactly "the highest QP at which the object is still detected"; otherwise
a dip between two grid points below the JRD is not seen, and nothing above the first failure on the path
counts. `jrd_from_curve` states the rule directly on a full QP sweep; `coarse_to_fine` finds the same value
with ~7-9 probes instead of 63 (tests/test_search.py proves them equal, on random curves and on a real
picture). `search:sweep` probes every QP and applies `jrd_from_curve` (the brute force).

With `verify` (default) the plan with every object at its own JRD is coded and checked once more; an object
lost there (its neighbours now sit at other QPs) is lowered 3 QPs at a time, at most 5 rounds.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.jrd.base import JRDPredictor
from vcm.types import Detections, ObjectJRD

DEFAULT_STEPS = (16, 4, 1)
VERIFY_STEP, VERIFY_ROUNDS = 3, 5


def check_steps(steps: Sequence[int]) -> tuple[int, ...]:
    steps = tuple(int(s) for s in steps)
    if not steps or steps[-1] != 1 or any(a <= b or a % b for a, b in zip(steps, steps[1:])):
        raise ValueError(f"steps {steps} must fall, each dividing the one before, and end with 1")
    return steps


def search_path(q: int, steps: Sequence[int] = DEFAULT_STEPS, qmin: int = 0) -> list[int]:
    """The QPs the coarse-to-fine search checks on its way to q (q included; qmin, the floor, never)."""
    steps = check_steps(steps)
    path, floor = [], qmin
    for s in steps:
        path += list(range(floor + s, q + 1, s))
        floor = qmin + (q - qmin) // s * s  # the last point of this grid at or below q
    return path


def jrd_from_curve(detected: Mapping[int, bool], steps: Sequence[int] = DEFAULT_STEPS, qmin: int = 0,
                   qmax: int = 63) -> int:
    """The rule on a full sweep: the highest q whose search path is detected throughout (qmin if none)."""
    best = qmin
    for q in range(qmin + 1, qmax + 1):
        if all(detected[p] for p in search_path(q, steps, qmin)):
            best = q
    return best


def coarse_to_fine(detected: Callable[[int], bool], steps: Sequence[int] = DEFAULT_STEPS, qmin: int = 0,
                   qmax: int = 63) -> int:
    """The same JRD as `jrd_from_curve`, asking `detected` only along one path: per grid step, climb until
    the first loss, then refine between the last success and that loss."""
    lo, end = qmin, qmax + 1
    for s in check_steps(steps):
        q = lo + s
        while q < end and detected(q):
            q += s
        lo, end = q - s, min(q, end)
    return lo


class SearchPredictor(JRDPredictor):
    """Options (the encode pipeline passes its own, so the search sees what the decoder will show):
    detector (a Detector, default hog-person), rule (StillDetectedRule, default the detector's threshold),
    bg_qp, margin, align, preset, encoder, matrix, steps, qmin, qmax, verify, cache."""

    name = "search"

    def __init__(self, arg: str | None = None, *, detector: Any = None, rule: Any = None, bg_qp: int = 51,
                 margin: int | None = None, align: int | None = None, preset: str = "faster", encoder: Any = "ffmpeg",
                 matrix: str = "bt709", steps: Sequence[int] = DEFAULT_STEPS, qmin: int = 0, qmax: int = 63,
                 verify: bool = True, cache: bool = True, **_: Any):
        from vcm import qp as qpmod

        if arg not in (None, "", "sweep", "fast"):
            raise VcmError(f"unknown search variant {arg!r}", fix="use --jrd search (fast) or search:sweep (all QPs)")
        self.strategy = "sweep" if arg == "sweep" else "coarse-to-fine"
        self.detector, self.rule = detector, rule
        self.bg_qp, self.preset, self.encoder, self.matrix = int(bg_qp), preset, encoder, matrix
        self.margin = qpmod.DEFAULT_MARGIN if margin is None else int(margin)
        self.align = qpmod.DEFAULT_ALIGN if align is None else int(align)
        self.steps, self.qmin, self.qmax = check_steps(steps), int(qmin), int(qmax)
        if not 0 <= self.qmin < self.qmax <= 63:
            raise VcmError(f"search range {qmin}..{qmax} is not inside 0..63", fix="use 0 <= qmin < qmax <= 63")
        self.verify, self.cache = bool(verify), cache
        self.last_stats: dict[str, Any] = {}

    def _detector(self):
        if self.detector is None or isinstance(self.detector, str):
            from vcm.detect import create_detector

            self.detector = create_detector(self.detector)
        return self.detector

    def _rule(self):
        if self.rule is None:
            from vcm.metrics.match import StillDetectedRule

            self.rule = StillDetectedRule.for_detector(self._detector())
        return self.rule

    def describe(self) -> dict[str, Any]:
        det = self._detector()
        return {"predictor": "search" + (":sweep" if self.strategy == "sweep" else ""), "strategy": self.strategy,
                "steps": list(self.steps), "qmin": self.qmin, "qmax": self.qmax, "bg_qp": self.bg_qp,
                "margin": self.margin, "align": self.align, "preset": self.preset, "verify": self.verify,
                "encoder": getattr(self.encoder, "name", self.encoder), "detector": det.describe(),
                "rule": self._rule().to_json()}

    def predict(self, picture: np.ndarray, detections: Detections) -> list[ObjectJRD]:
        from vcm.codec import EncodeParams, decode, rgb_to_yuv, yuv_to_rgb
        from vcm.coding.modes import assemble, code_background, code_crops, drawing_order
        from vcm.metrics.match import still_detected_all
        from vcm.qp import QPRegion, plan

        t0 = time.perf_counter()
        n = len(detections)
        if n == 0:
            self.last_stats = {"probes": 0, "encodes": 0, "seconds": 0.0}
            return []
        detector, rule = self._detector(), self._rule()
        frame = rgb_to_yuv(picture, self.matrix)
        h, w = picture.shape[:2]
        params = EncodeParams(qp=self.bg_qp, preset=self.preset)
        floor = [ObjectJRD(d, self.qmin, "search") for d in detections]
        base = plan(floor, w, h, bg_qp=self.bg_qp, margin=self.margin, align=self.align)
        bg = code_background(frame, base, params, self.encoder, self.matrix, self.cache)
        bg_frame = decode(bg.result.bitstream)[0]
        encodes = 1

        def look(qps: Sequence[int]) -> list[bool]:
            """Code every crop at its QP over the background, detect once, judge every object."""
            nonlocal encodes
            regions = [QPRegion(r.index, r.rect, int(q), int(q)) for r, q in zip(base.regions, qps)]
            streams = code_crops(frame, regions, params, self.encoder, self.matrix, self.cache)
            encodes += len(streams)
            pieces = [("background", (0, 0, frame.width, frame.height), self.bg_qp, bg_frame)]
            pieces += [("object", s.rect, s.qp, decode(s.result.bitstream)[0]) for s in drawing_order(streams)]
            rgb = yuv_to_rgb(assemble(pieces, w, h), self.matrix)
            return still_detected_all(detections, detector.detect([rgb])[0], rule)

        probes: dict[int, list[bool]] = {}

        def probe(q: int) -> list[bool]:
            if q not in probes:
                probes[q] = look([q] * n)
            return probes[q]

        if self.strategy == "sweep":
            for q in range(self.qmin + 1, self.qmax + 1):
                probe(q)
            jrds = [jrd_from_curve({q: v[i] for q, v in probes.items()}, self.steps, self.qmin, self.qmax)
                    for i in range(n)]
        else:
            jrds = [coarse_to_fine(lambda q, i=i: probe(q)[i], self.steps, self.qmin, self.qmax) for i in range(n)]
        rule_jrds = list(jrds)
        verified: list[bool] | None = None
        rounds = 0
        if self.verify:
            for rounds in range(VERIFY_ROUNDS + 1):
                verified = look(jrds)
                lost = [i for i, ok in enumerate(verified) if not ok and jrds[i] > self.qmin]
                if not lost or rounds == VERIFY_ROUNDS:
                    break
                for i in lost:
                    jrds[i] = max(self.qmin, jrds[i] - VERIFY_STEP)
        seconds = time.perf_counter() - t0
        self.last_stats = {"probes": len(probes), "probed_qps": sorted(probes), "encodes": encodes,
                           "verify_rounds": rounds + 1 if self.verify else 0, "seconds": round(seconds, 3),
                           "strategy": self.strategy}
        out = []
        for i, d in enumerate(detections):
            curve = {q: v[i] for q, v in sorted(probes.items())}
            info = {"rule_jrd": rule_jrds[i], "detected": {str(q): ok for q, ok in curve.items()},
                    "never_detected": not any(curve.values()), "probes": len(probes), "encodes": encodes,
                    "strategy": self.strategy}
            if verified is not None:
                info["verified"] = bool(verified[i])
                if jrds[i] != rule_jrds[i]:
                    info["lowered_by_verify"] = rule_jrds[i] - jrds[i]
            out.append(ObjectJRD(d, int(jrds[i]), "search", info))
        return out
