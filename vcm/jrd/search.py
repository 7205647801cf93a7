"""`search`: measure each object's JRD with the detector itself, in the picture exactly as `objects` mode decodes it.

A *probe* at QP q codes every object crop (box + margin, `vcm.qp.crop_rect`) at q, pastes the decoded crops
over the decoded background (object areas low-pass filled, coded once at the background QP), runs the
detector once on the result and asks the shared "still detected" rule (`vcm.metrics.match`) about every
object. One probe answers all objects at q, so objects share encodes; the crops of all QPs one round asks for
are coded together (`vcm.codec.encode_crops`: one ffmpeg process), and a crop is coded (and decoded) once per
search; the verification's crops come from the encode cache.

`vcm label` labels its training crops with this same predictor (one computation: `vcm label`, `vcm predict
--jrd search` and `vcm encode --jrd search` give an object in a picture one JRD), by the corrected OW-JRD rule
of `vcm.labeling`, so this predictor is the upper bound a trained predictor can reach:
    JRD = the QP just below the first QP at which the object is lost and stays lost for the next 8 QPs
    (shorter losses are detector noise; near the top a shorter loss counts, and a detection at the top QP
    alone does not end it); never lost for 8 QPs in a row: the top QP (63); lost for the first 8 QPs: no QP
    helps in its crop: its JRD is then searched in the whole picture coded as plain VVC (the same rule over plain
    QPs; `context: picture` in the info): some objects need the context around their box (on 10 untuned photos 2
    of 23, whose loss capped the oracle's mAP@0.5 at 0.92 while one QP for every object reached 1.0), and the
    plan choice then writes the plain VVC that keeps them. Not found there either: JRD = the lowest QP
    (`never_detected` in the info; the verification leaves it out of the plan, as `vcm encode` does).
The object is detected at its JRD in the probe (the rule's answer is always a detected QP). `search` finds
this with `vcm.labeling.smart_search` (a Boyer-Moore-style window scan: about r/8 + 8 probes instead of 64,
exact); `search:sweep` probes every QP and applies the rule to the full sweep (the brute force).
tests/test_search.py proves the two equal on a real picture.

With `verify` (default) the plan with every object at its own JRD goes through the plan choice of
`vcm encode` itself (vcm.coding.choose with `lower`: objects mode at the background QP, objects at or above it in
the background, plain VVC at the lowest object QP when that is cheaper) and the written file is checked once
more; an object the plan's objects-mode file loses (its neighbours now sit at other QPs, the background is no
longer filled under it) is coded finer by that choice (3 QPs a round, then 6, then 12; at most 6 rounds, while
the file is not larger than plain VVC at the lowest object QP; the passing round's objects raised back by a
bisection towards the QPs the round before lost them), and the QPs of the file it writes are the JRDs
returned (`lowered_by_verify` says by how much). So at offset 0 the oracle's file keeps every object it can
within the "never larger than plain VVC at the lowest object QP" invariant, and `vcm encode --jrd search` writes
that file from these JRDs.
"""
from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.jrd.base import JRDPredictor
from vcm.types import Detections, ObjectJRD


class SearchPredictor(JRDPredictor):
    """Options (the encode pipeline passes its own, so the search sees what the decoder will show):
    detector (a Detector, default hog-person), rule (StillDetectedRule, default the detector's threshold),
    bg_qp, margin, align, preset, encoder, matrix, window, qmin, qmax (or qps: the QPs to search, a sorted list
    as `vcm label --qps` gives), verify, cache."""

    name = "search"

    def __init__(self, arg: str | None = None, *, detector: Any = None, rule: Any = None, bg_qp: int = 51,
                 margin: int | None = None, align: int | None = None, preset: str = "faster", encoder: Any = "ffmpeg",
                 matrix: str = "bt709", window: int | None = None, qmin: int = 0, qmax: int = 63,
                 qps: Sequence[int] | None = None, verify: bool = True, cache: bool = True, **_: Any):
        from vcm import qp as qpmod

        if arg not in (None, "", "sweep", "fast"):
            raise VcmError(f"unknown search variant {arg!r}", fix="use --jrd search (fast) or search:sweep (all QPs)")
        self.strategy = "sweep" if arg == "sweep" else "smart"
        self.detector, self.rule = detector, rule
        self.bg_qp, self.preset, self.encoder, self.matrix = int(bg_qp), preset, encoder, matrix
        self.margin = qpmod.DEFAULT_MARGIN if margin is None else int(margin)
        self.align = qpmod.DEFAULT_ALIGN if align is None else int(align)
        from vcm.labeling import WINDOW

        self.window = int(window or WINDOW)
        if qps is not None:
            self.qps = sorted({int(q) for q in qps})
            if not self.qps or not 0 <= self.qps[0] <= self.qps[-1] <= 63:
                raise VcmError(f"search QPs {list(qps)} are not inside 0..63", fix="use QPs 0..63")
            qmin, qmax = self.qps[0], self.qps[-1]
        elif not 0 <= int(qmin) < int(qmax) <= 63:
            raise VcmError(f"search range {qmin}..{qmax} is not inside 0..63", fix="use 0 <= qmin < qmax <= 63")
        else:
            self.qps = list(range(int(qmin), int(qmax) + 1))
        self.qmin, self.qmax = int(qmin), int(qmax)
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
                "window": self.window, "qmin": self.qmin, "qmax": self.qmax,
                **({} if self.qps == list(range(self.qmin, self.qmax + 1)) else {"qps": self.qps}),
                "bg_qp": self.bg_qp,
                "margin": self.margin, "align": self.align, "preset": self.preset, "verify": self.verify,
                "encoder": getattr(self.encoder, "name", self.encoder), "detector": det.describe(),
                "rule": self._rule().to_json()}

    def predict(self, picture: np.ndarray, detections: Detections, others=()) -> list[ObjectJRD]:
        if self.cache or not len(detections):
            return self._predict(picture, detections, self.cache, others)
        # No encode cache asked for: a private one for this search only (removed after it), so the verification's
        # plan finds the crops the probes coded instead of coding them again.
        import tempfile

        from vcm.codec.cache import EncodeCache

        with tempfile.TemporaryDirectory(prefix="vcm-search-") as tmp:
            return self._predict(picture, detections, EncodeCache(tmp), others)

    def _predict(self, picture: np.ndarray, detections: Detections, cache, others=()) -> list[ObjectJRD]:
        from vcm import labeling as L
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
        # the original's every box: weaker ones are not false boxes when the rule ranks a coded picture's boxes,
        # as `vcm encode`'s check judges (without them a weak car beside a kept one made the kept one "lost")
        asked = tuple(detections)
        everything = asked + tuple(d for d in others if d not in asked)
        frame = rgb_to_yuv(picture, self.matrix)
        h, w = picture.shape[:2]
        params = EncodeParams(qp=self.bg_qp, preset=self.preset)
        floor = [ObjectJRD(d, self.qmin, "search") for d in detections]
        base = plan(floor, w, h, bg_qp=self.bg_qp, margin=self.margin, align=self.align)
        bg = code_background(frame, base, params, self.encoder, self.matrix, cache)
        bg_frame = decode(bg.result.bitstream)[0]
        encodes = 1

        coded: dict[tuple, Any] = {}  # (rect, QP) -> its stream: a crop already coded here is not coded again
        decoded: dict[tuple, Any] = {}  # (rect, QP) -> its decoded crop

        def code(regions) -> list:
            """The streams of `regions` (same order): the ones not coded yet in this search, in one batch."""
            nonlocal encodes
            new = list({(r.rect, r.qp): r for r in regions if (r.rect, r.qp) not in coded}.values())
            if new:
                for r, st in zip(new, code_crops(frame, new, params, self.encoder, self.matrix, cache)):
                    coded[(r.rect, r.qp)] = st
                encodes += len(new)
            return [replace(coded[(r.rect, r.qp)], index=r.index) for r in regions]

        def judge(streams) -> list[bool]:
            """Paste decoded crops over the background as the decoder does, detect once, judge every object."""
            pieces = [("background", (0, 0, frame.width, frame.height), self.bg_qp, bg_frame)]
            for st in drawing_order(streams):
                if (st.rect, st.qp) not in decoded:
                    decoded[(st.rect, st.qp)] = decode(st.result.bitstream)[0]
                pieces.append(("object", st.rect, st.qp, decoded[(st.rect, st.qp)]))
            rgb = yuv_to_rgb(assemble(pieces, w, h), self.matrix)
            return still_detected_all(detections, detector.detect([rgb])[0], rule, others=everything)

        def look(qps: Sequence[int], members: Sequence[int]) -> tuple[list[int], list[bool], int]:
            """The plan with each object of `members` at its QP through `vcm encode`'s plan choice
            (vcm.coding.choose with `lower`: objects mode at this background QP, an object it loses coded finer round
            by round, or plain VVC at the lowest object QP, the cheapest that keeps every object): the QPs of the file
            it writes (the lowered ones where it wrote a lowered objects file), which objects that file keeps, and
            how many lowering rounds it coded. The others (no QP keeps them) are left out of the plan, as `vcm
            encode` leaves them out."""
            nonlocal encodes
            from vcm.coding.choose import choose

            # the lowest QP searched is the plan's floor: the lowering never codes an object finer than it (`vcm
            # label --qps 36-63` labels no object below 36)
            final = plan([ObjectJRD(detections[i], int(qps[i]), "search") for i in members], w, h,
                         bg_qp=self.bg_qp, qp_min=self.qmin, margin=self.margin, align=self.align)
            picked = choose(frame, {self.bg_qp: final}, params, modes=("objects",), detector=detector, rule=rule,
                            protect=[detections[i] for i in members], original=everything, encoder=self.encoder,
                            matrix=self.matrix, cache=cache, display=(w, h), lower=True)
            # the probes' crops come back from the cache: only what was coded afresh counts
            encodes += sum(not st.result.cached for c in picked.candidates for st in c.coded.streams)
            chosen, out = picked.chosen, list(qps)
            if chosen.mode == "objects":  # lowered where an object was lost: region k is members[k]
                asked = {r.index: r.qp for r in final.regions}
                for r in chosen.coded.plan.regions:
                    out[members[r.index]] -= asked[r.index] - r.qp
            kept = dict(zip(members, chosen.kept))
            # lowering rounds only (`objects@51/finer2`), not the raise-back's probes after one (`/finer2-1`)
            rounds = sum(bool(re.search(r"/finer\d+$", c.name)) for c in picked.candidates)
            return out, [kept.get(i, False) for i in range(n)], rounds

        def probe(qps: Sequence[int]) -> dict[int, list[bool] | None]:
            """Every asked QP at once: all crops in one batch (ffmpeg: one process), then one detection per QP.
            A QP the encoder refuses (libvvenc: near-lossless QPs on small crops) answers None: the rule leaves
            it out."""
            regions = [QPRegion(r.index, r.rect, int(q), int(q)) for q in qps for r in base.regions]
            try:
                streams = code(regions)
                by_q = {int(q): streams[k * n:(k + 1) * n] for k, q in enumerate(qps)}
            except VcmError:
                by_q = {}
                for k, q in enumerate(qps):
                    try:
                        by_q[int(q)] = code(regions[k * n:(k + 1) * n])
                    except VcmError:
                        by_q[int(q)] = None
            return {q: None if v is None else judge(v) for q, v in by_q.items()}

        def probe_picture(qps: Sequence[int], which: Sequence[int]) -> dict[int, list[bool] | None]:
            """The whole picture as plain VVC at each QP (one encode per QP, shared by the objects `which`)."""
            nonlocal encodes
            from vcm.coding.choose import code_candidate, detect_coded

            out: dict[int, list[bool] | None] = {}
            for q in qps:
                try:
                    c = code_candidate(frame, base, "plain", params, qp=int(q), encoder=self.encoder,
                                       matrix=self.matrix, cache=cache, display=(w, h))
                except VcmError:
                    out[int(q)] = None
                    continue
                encodes += 0 if c.coded.streams[0].result.cached else 1
                found = detect_coded(c.coded, detector, "pyav", self.matrix, memo=cache)
                out[int(q)] = still_detected_all([detections[i] for i in which], found, rule, others=everything)
            return out

        search = L.full_sweep if self.strategy == "sweep" else L.smart_search
        labels, probes = search(n, self.qps, probe, self.window)
        jrds = [self.qmin if lab.jrd is None else int(lab.jrd) for lab in labels]
        # lost in its crop from the lowest QPs on: searched again in the whole picture (plain VVC)
        in_picture: dict[int, Any] = {}
        dropped = [i for i, lab in enumerate(labels) if lab.status == L.DROPPED]
        if dropped:
            got, _ = search(len(dropped), self.qps, lambda qs: probe_picture(qs, dropped), self.window)
            in_picture = {i: lab for i, lab in zip(dropped, got) if lab.jrd is not None}
            for i, lab in in_picture.items():
                jrds[i] = int(lab.jrd)
        rule_jrds = list(jrds)
        members = [i for i, lab in enumerate(labels) if lab.jrd is not None or i in in_picture]
        verified: list[bool] | None = None
        rounds = 0
        if self.verify and members:
            jrds, verified, rounds = look(jrds, members)
        seconds = time.perf_counter() - t0
        self.last_stats = {"probes": len(probes), "probed_qps": sorted(probes), "encodes": encodes,
                           "verify_rounds": rounds + 1 if verified is not None else 0, "seconds": round(seconds, 3),
                           "strategy": self.strategy}
        out = []
        for i, d in enumerate(detections):
            curve = {q: None if v is None else v[i] for q, v in sorted(probes.items())}
            info = {"rule_jrd": labels[i].jrd, "status": labels[i].status,
                    "detected": {str(q): ok for q, ok in curve.items()},
                    "never_detected": labels[i].jrd is None and i not in in_picture, "probes": len(probes),
                    "encodes": encodes, "strategy": self.strategy}
            if i in in_picture:  # the crop rule's label stays None (`vcm label`: dropped); the plan uses this
                info.update(context="picture", picture_jrd=int(in_picture[i].jrd))
            if verified is not None:
                info["verified"] = bool(verified[i])
                if jrds[i] != rule_jrds[i]:
                    info["lowered_by_verify"] = rule_jrds[i] - jrds[i]
            out.append(ObjectJRD(d, int(jrds[i]), "search", info))
        return out
