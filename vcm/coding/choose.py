"""The per-picture plan choice: code the candidate plans, check each decoded picture, keep the cheapest.

A candidate is a coding mode with a background QP (objects at bg 63/57/51, blur, frame, ctu where uvg266 is
installed, plain at the lowest object QP). The objects candidates merge touching objects with close QPs into one
stream (`QPPlan.object_streams`); one that fails the check is tried again with one stream per object
(`objects@63/split`), in its place by size. All are coded; then, cheapest first, each is decoded exactly as
`vcm decode` does and detected again until one passes; it *passes* when every
object the machine must keep is still detected (the shared rule, vcm.metrics.match) and no new box at the
keep score appears where the original had none (a false detection). The written file is the cheapest passing
candidate that is not larger than plain VVC at the lowest object QP. When none passes, `vcm encode` and the
benchmark (`lower`) first code the objects the objects file lost (or made up a box on) finer, round by round
(the search's verification is this same choice), and a passing objects file's objects finer than the median
object QP are raised to it where that file passes too and is smaller; when still none passes, the one (not larger
than plain) that keeps the most objects with the fewest false detections (the invariant: a vcm file never costs
more than plain VVC at the lowest object QP).

`vcm encode` and the benchmark also search the plain reference (`plain_search`): plain VVC at the coarsest QP
that still keeps every object (the detector in the loop, every coarser QP from 63 down), written instead whenever it is smaller,
so no vcm file is larger than the plain VVC a user could have used for the same detections. A plan coarser than
its JRDs (a positive JRD offset, or a `--qp-min` floor above some object's JRD) is written even when it loses
objects: coarser was asked for. A background finer than the default ones (`--bg-qp` below 51) was asked for
too: the objects file at it is written even when a plain VVC that keeps the same objects is smaller.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from vcm.codec.base import EncodeParams
from vcm.errors import VcmError
from vcm.qp import MERGE_QP_TOLERANCE, QPPlan, rects_overlap
from vcm.settings import AUTO_BG_QPS, DEFAULT_BG_QP  # background QPs tried by --bg-qp auto, coarsest first (one definition)

AUTO_MODES = ("objects", "blur", "frame")


def auto_modes() -> tuple[str, ...]:
    """The candidate modes of --mode auto: ctu joins them where uvg266 (the one encoder with a QP map) is here."""
    from vcm.codec import create_encoder

    try:
        has_uvg266 = create_encoder("uvg266", check=False).available()
    except Exception:  # noqa: BLE001 - an unusable optional backend is simply not a candidate
        has_uvg266 = False
    return AUTO_MODES + (("ctu",) if has_uvg266 else ())


@dataclass
class Candidate:
    """One coded candidate and (once checked) its check."""

    name: str  # e.g. "objects@63", "frame", "plain"
    mode: str
    bg_qp: int | None
    coded: Any  # CodedPicture
    bytes: int  # the file vcm would write (streams + placement)
    kept: list[bool] | None = None  # per protected object; None: not checked (a cheaper candidate passed)
    false: list | None = None  # the boxes the coding made up (`false_boxes`); None: not checked
    seconds: float = 0.0
    found: Any = None  # the detections on the decoded picture

    @property
    def checked(self) -> bool:
        return self.kept is not None

    @property
    def false_detections(self) -> int | None:
        return None if self.false is None else len(self.false)

    @property
    def merge_tolerance(self) -> int:
        """The stream layout a re-coding of it keeps: one stream per object for a split candidate and those coded
        from one (`.../split/finer2`), else touching objects with close QPs merged (`QPPlan.object_streams`)."""
        return -1 if "/split" in self.name else MERGE_QP_TOLERANCE

    @property
    def passed(self) -> bool:
        return self.checked and all(self.kept) and self.false_detections == 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode, "bg_qp": self.bg_qp, "bytes": self.bytes,
                "checked": self.checked, "kept": sum(self.kept) if self.checked else None,
                "objects": len(self.kept) if self.checked else None, "false_detections": self.false_detections,
                "passed": self.passed, "seconds": round(self.seconds, 3)}


@dataclass
class Choice:
    chosen: Candidate
    candidates: list[Candidate] = field(default_factory=list)
    reason: str = ""
    reference: Candidate | None = None  # the smallest passing plain VVC found (None: none passes, or not searched)
    reference_skipped: tuple[int, int] | None = None  # plain QPs coarser than the reference the scan did not code

    def to_json(self) -> dict[str, Any]:
        return {"chosen": self.chosen.name, "reason": self.reason, "candidates": [c.to_json() for c in self.candidates],
                "plain_reference": None if self.reference is None else
                {"name": self.reference.name, "qp": self.reference.coded.qp, "bytes": self.reference.bytes,
                 "not_coded": list(self.reference_skipped) if self.reference_skipped else None}}


def file_bytes(coded) -> int:
    """The size of the file `vcm encode` writes for a coded picture (container included)."""
    from vcm.coding.modes import to_vcm_file
    from vcm.container import pack_vcm_file

    return len(pack_vcm_file(to_vcm_file(coded)))


def false_boxes(original, found, rule) -> list:
    """Boxes on the coded picture at the keep score that match no detection of the original (any score)."""
    from vcm.metrics.match import StillDetectedRule, still_detected_all

    strong = [d for d in found if rule.keeps(d)]
    if not strong:
        return []
    loose = StillDetectedRule(iou=0.5, min_score=None, match_by=rule.match_by)  # matches nothing mAP would count
    return [d for d, ok in zip(strong, still_detected_all(strong, original, loose)) if not ok]


def false_detections(original, found, rule) -> int:
    """How many `false_boxes` the coded picture has."""
    return len(false_boxes(original, found, rule))


def under_false_boxes(c: Candidate) -> set[int]:
    """The protected objects (region indices) whose coded area holds the centre of one of `c`'s false boxes: a box
    the coding made up on or beside an object (measured: a second cow on a coarse cow, which made every objects
    file of a bison photo fail and the written file plain VVC 25x larger), which coding that object finer mends.
    A false box in the background alone belongs to no object: finer objects do not mend it."""
    centres = [((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2) for d in c.false or ()]
    return {r.index for r in c.coded.plan.regions
            if any(r.rect[0] <= x < r.rect[0] + r.rect[2] and r.rect[1] <= y < r.rect[1] + r.rect[3]
                   for x, y in centres)}


def overlapping(plan: QPPlan, which: set[int]) -> set[int]:
    """The regions whose coded area (crop with its margin) overlaps that of a region in `which`: the context a
    small object is detected in (measured: a sheep at the edge of a cow's crop stayed lost down to QP 0 while the
    cow's crop around it sat at QP 47)."""
    rects = [r.rect for r in plan.regions if r.index in which]
    return {r.index for r in plan.regions if r.index not in which and any(rects_overlap(r.rect, o) for o in rects)}


def checked_once(c: Candidate, check: dict) -> Candidate:
    """`c`, checked once: a candidate already decoded and judged with this choice's `check` is not judged again."""
    return c if c.checked else check_candidate(c, **check)


_FOUND: dict[tuple, Any] = {}  # (detector, decoder, streams) -> detections: a candidate coded twice is detected once
_FOUND_MAX = 512


def detect_coded(coded, detector, decoder: str, matrix: str, memo: bool):
    """Detections on the decoded picture; with `memo` (streams from the content-addressed encode cache, so a
    bitstream path names its content) a picture coded again is not decoded and detected again."""
    from vcm.codec import yuv_to_rgb
    from vcm.coding.modes import reconstruct

    if not memo:
        return detector.detect([yuv_to_rgb(reconstruct(coded, decoder), matrix)])[0]
    key = (id(detector), decoder, matrix, coded.width, coded.height,
           tuple((s.role, tuple(s.rect), s.qp, str(s.result.bitstream)) for s in coded.streams))
    if key not in _FOUND:
        if len(_FOUND) >= _FOUND_MAX:
            _FOUND.clear()
        _FOUND[key] = detector.detect([yuv_to_rgb(reconstruct(coded, decoder), matrix)])[0]
    return _FOUND[key]


def code_candidate(frame, plan: QPPlan, mode: str, params: EncodeParams, *, qp: int | None = None,
                   encoder="ffmpeg", matrix="bt709", cache=True, display=None, name: str | None = None,
                   merge_tolerance: int = MERGE_QP_TOLERANCE) -> Candidate:
    """Code one candidate (not checked yet); objects mode merges touching objects (`QPPlan.object_streams`)."""
    from vcm.coding.modes import code_picture_mode

    t0 = time.perf_counter()
    coded = code_picture_mode(mode, frame, plan, params, qp=qp, encoder=encoder, matrix=matrix, cache=cache,
                              display=display, merge_tolerance=merge_tolerance)
    bg = plan.bg_qp if mode == "objects" else None
    return Candidate(name or (f"{mode}@{bg}" if bg is not None else mode), mode, bg, coded, file_bytes(coded),
                     seconds=time.perf_counter() - t0)


def check_candidate(c: Candidate, *, detector, rule, protect, original, decoder: str = "pyav", matrix="bt709",
                    cache=True) -> Candidate:
    """Decode the candidate as `vcm decode` does, detect, judge the objects in `protect` and false detections."""
    from vcm.metrics.match import still_detected_all

    t0 = time.perf_counter()
    c.found = detect_coded(c.coded, detector, decoder, matrix, memo=cache)
    c.kept = still_detected_all(protect, c.found, rule, others=original)
    c.false = false_boxes(original, c.found, rule)
    c.seconds += time.perf_counter() - t0
    return c


def _lower_lost(frame, cands: list, params: EncodeParams, limit: int, *, check: dict, kw: dict) -> Candidate | None:
    """The objects candidate keeping the most objects (cheapest among them), coded again with the objects it lost
    finer, round by round (`_lower_rounds`). When its rounds find no file, the same from the best objects
    candidate at another background QP, then from the best with the other stream layout (one stream per object,
    or touching objects merged): a small object can stay lost at any QP of its own over a coarse background
    (Palais des Papes, the oracle's JRDs: a 30x46 px person stayed lost through six rounds over background 57
    and was kept one round down over 51, 7.9 kB against the 23.7 kB plain VVC written), and the merged stream
    that kept no sheep of three at first kept all three three rounds down in 5.3 kB where the split one, which
    kept one, never did (plain VVC 8.7 kB written). The search's verification (vcm.jrd.search) is this same
    choice."""
    own = sorted((c for c in cands if c.mode == "objects" and c.checked and not c.passed and c.bytes <= limit),
                 key=lambda c: (-sum(c.kept), c.bytes, c.name))
    if not own:
        return None
    first = own[0]
    layout = first.merge_tolerance
    others = (next((c for c in own if c.bg_qp != first.bg_qp and c.merge_tolerance == layout), None),
              next((c for c in own if c.merge_tolerance != layout), None))
    for base in (first, *others):
        got = None if base is None else _lower_rounds(frame, base, cands, params, limit, check=check, kw=kw)
        if got is not None:
            return got
    return None


def _lower_rounds(frame, base: Candidate, cands: list, params: EncodeParams, limit: int, *, check: dict,
                  kw: dict) -> Candidate | None:
    """`base` coded again with the objects it lost finer, round by round (`lower_step`; each round lowers the
    objects the last round's file still lost, or that lie under a false box it made up (`under_false_boxes`), and
    a lowered object stays lowered), until one keeps every object without a false detection or the file would be
    larger than `limit` bytes or no lost object can go finer or the encoder refuses the finer QP (None). The
    passing round's objects are then raised back towards the QPs the round before lost them (`_raise_back`), and
    the smallest passing file is returned. Each new candidate joins `cands`."""
    plan, last = base.coded.plan, base

    def coded(p: QPPlan, name: str) -> Candidate | None:
        try:
            c = code_candidate(frame, p, "objects", params, name=f"{base.name}/{name}",
                               merge_tolerance=base.merge_tolerance, **kw)
        except VcmError:  # libvvenc refuses near-lossless QPs on small crops: no finer round
            return None
        cands.append(c)
        return c

    rounds: dict[int, int] = {}  # object -> rounds that lowered it
    for round_ in range(LOWER_ROUNDS):
        lost = {i for i, k in enumerate(last.kept) if not k} | under_false_boxes(last)
        if not lost:
            return None  # every object kept: a false box in the background alone failed it, which finer objects
            # do not mend
        # lowered twice and still lost: its own QP may not be what loses it, so its neighbours are lowered too
        lost |= overlapping(plan, {i for i in lost if rounds.get(i, 0) >= 2})
        for i in lost:
            rounds[i] = rounds.get(i, 0) + 1
        before, plan = plan, lowered_plan(plan, lost, lower_step(round_))
        if plan is None:
            return None
        c = coded(plan, f"finer{round_ + 1}")
        if c is None or c.bytes > limit:
            return None
        if check_candidate(c, **check).passed:
            return _raise_back(c, before, lost, lambda p, k: coded(p, f"finer{round_ + 1}-{k}"), check)
        last = c
    return None


def _raise_back(good: Candidate, before: QPPlan, lowered: set[int], code, check: dict) -> Candidate:
    """`good` (a lowering round that keeps every object) with the objects that round lowered raised back by a
    bisection between their QPs in `good` and in `before` (the round that lost them), the smallest passing file
    returned: the rounds lower by 3, 6, then 12 QPs, so the passing one may sit far below the coarsest QP that
    keeps the object (an OpenCV photo's kite went 34 -> 4 by 3, 3, 6, 6, 12; raised back, it is kept at 15).
    `code(plan, k)` codes a candidate (None: the encoder refused it). Costs about log2(step) probes."""
    was = {r.index: r.qp for r in before.regions}
    plan = good.coded.plan
    lo, hi = 0, max(was[r.index] - r.qp for r in plan.regions if r.index in lowered)
    best, k = good, 0
    while hi - lo > 1:
        mid, k = (lo + hi) // 2, k + 1
        raised = replace(plan, regions=tuple(replace(r, qp=min(was[r.index], r.qp + mid)) if r.index in lowered
                                             else r for r in plan.regions))
        c = code(raised, k)
        if c is not None and check_candidate(c, **check).passed:
            lo = mid
            best = c if c.bytes <= best.bytes else best
        else:
            hi = mid
    return best


def raised_to_median(good: Candidate, frame, params: EncodeParams, cands: list, *, check: dict,
                     kw: dict) -> Candidate:
    """`good` (a passing objects file; any other is returned as it is) with every object finer than the median
    object QP raised to it, when that file passes too and is smaller (it joins `cands`): one encode and one check.
    A JRD measured in another context (the search's probe codes every object at one QP over a filled background; a
    lowering round lowers what its file lost) can sit far below what the written file needs (Palais des Papes, the
    oracle: a person's JRD 22 beside others at 32)."""
    if good.mode != "objects" or not good.passed:
        return good
    regions = good.coded.plan.regions
    if len(regions) < 2:
        return good
    m = int(np.median([r.qp for r in regions]))
    if all(r.qp >= m for r in regions):
        return good
    raised = replace(good.coded.plan, regions=tuple(replace(r, qp=max(r.qp, m)) for r in regions))
    try:
        c = code_candidate(frame, raised, "objects", params, name=good.name + "/median",
                           merge_tolerance=good.merge_tolerance, **kw)
    except VcmError:
        return good
    cands.append(c)
    return c if check_candidate(c, **check).passed and c.bytes < good.bytes else good


def coarsest_plain(frame, plan: QPPlan, params: EncodeParams, start_qp: int, *, check: dict, kw: dict,
                   beat: int | None = None, known: Sequence[Candidate] = (),
                   floor: int = 0) -> tuple[Candidate | None, list[Candidate], tuple[int, int] | None]:
    """Plain VVC at the coarsest QP that still keeps every object without a false detection (the detector in the
    loop). First a QP that passes: `start_qp` (the lowest object QP of the plan at offset 0), else down in steps of
    DOWN_STEP (at most DOWN_TRIES). Then every coarser QP from 63 down, the first that passes wins: detection is not
    monotone in QP (measured: bikes frame 32 lost its person at QP 53 and kept it at 57), so a bisection would miss
    smaller files. A QP whose file is not smaller than `beat` bytes (the best candidate so far) or than the passing
    plain file is not checked, so those probes cost an encode and no detection, and once two QPs in a row give
    files that large the scan stops (finer QPs give larger files: a plain file is near-monotone in its QP).
    `known`: plain candidates coded already (reused by QP). `floor`: no QP below it is tried (`--qp-min`: no
    object is coded finer than the floor, the plain fall-back included). Returns the passing plain candidate
    (None: none found), every plain candidate coded, and the QPs (lo, hi) the scan stopped before coding (files
    larger than `beat`; so the candidate returned need not be the smallest passing plain file), else None."""
    tried: list[Candidate] = []
    have = {int(c.coded.qp): c for c in known}

    def at(q: int) -> Candidate:
        if q not in have:
            have[q] = code_candidate(frame, plan, "plain", params, qp=q, name=f"plain@{q}", **kw)
            tried.append(have[q])
        return have[q]

    def passes(c: Candidate) -> bool:
        return checked_once(c, check).passed

    good = None
    for k in range(DOWN_TRIES):
        q = max(floor, start_qp - k * DOWN_STEP)
        if passes(at(q)):
            good = q
            break
        if q == floor:
            break
    if good is None:
        return None, tried, None
    best = have[good]
    bar = best.bytes if beat is None else min(best.bytes, beat)
    qs = list(range(63, good, -1))  # coarsest first: the first that passes is the smallest passing plain file
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # the next QP is encoded while this one is decoded and detected
        ahead: dict[int, Any] = {}
        too_large, skipped = 0, None
        for i, q in enumerate(qs):
            for q2 in qs[i:i + 2]:
                if q2 not in have and q2 not in ahead:
                    ahead[q2] = pool.submit(code_candidate, frame, plan, "plain", params, qp=q2, name=f"plain@{q2}",
                                            **kw)
            if q not in have:
                have[q] = ahead.pop(q).result()
                tried.append(have[q])
            if have[q].bytes >= bar:
                too_large += 1
                if too_large >= 2:
                    # plain files larger than `beat` (the best candidate), not than the passing plain file: the
                    # QPs left may hold a smaller passing plain file, larger than that candidate though
                    skipped = (good + 1, q - 1) if q - 1 > good and bar < best.bytes else None
                    break
                continue
            too_large = 0
            if passes(have[q]):
                return have[q], tried, None
        for f in ahead.values():  # the encode coded ahead of a stop: finished (the pool waits), not used
            f.cancel()
    return best, tried, skipped


def smaller_plain_keeping(frame, plan: QPPlan, params: EncodeParams, best: Candidate, *, check: dict, kw: dict,
                          known: Sequence[Candidate] = (), floor: int = 0) -> Candidate | None:
    """The coarsest plain VVC smaller than `best` that keeps every object `best` keeps with no more false detections
    (None: none): when no candidate keeps every object, the file is still no larger than the plain VVC that keeps
    the same ones. QPs from 63 down to `floor`, until a plain file is not smaller than `best`."""
    have = {int(c.coded.qp): c for c in known if c.name.startswith("plain@")}
    for q in range(63, floor - 1, -1):
        c = have.get(q) or code_candidate(frame, plan, "plain", params, qp=q, name=f"plain@{q}", **kw)
        if c.bytes >= best.bytes:
            return None
        checked_once(c, check)
        if all(k or not b for k, b in zip(c.kept, best.kept)) and c.false_detections <= best.false_detections:
            return c
    return None


DOWN_STEP, DOWN_TRIES = 4, 5  # coarsest_plain: how far below the lowest object QP it looks for a plain that keeps all
LOWER_STEP, LOWER_ROUNDS = 3, 6  # lowering a lost object's QP: 3 QPs a round, 6 from the third, 12 from the fifth


def lower_step(round_: int) -> int:
    """How many QPs an object still lost is lowered in lowering round `round_` (0-based) of the plan choice's
    `lower` (which the search's verification runs too)."""
    return LOWER_STEP * 2 ** (round_ // 2)


def lowered_plan(plan: QPPlan, lost: set[int], step: int) -> QPPlan | None:
    """`plan` with the regions of `lost` (indices into the protected objects) `step` QPs finer, never below its
    floor; None when none can go lower."""
    regions = tuple(replace(r, qp=max(int(plan.qp_min), 0, r.qp - step)) if r.index in lost else r
                    for r in plan.regions)
    return None if regions == plan.regions else replace(plan, regions=regions)


def choose(frame, plans: dict[int, QPPlan], params: EncodeParams, *, modes: Sequence[str], detector, rule, protect,
           original, encoder="ffmpeg", matrix="bt709", cache=True, display=None, decoder: str = "pyav",
           workers: int = 2, plain_search: bool = False, offset: int = 0, lower: bool = False) -> Choice:
    """The cheapest candidate of `modes` (objects over the background QPs in `plans`, coarsest first) and plain
    VVC at the lowest object QP that passes and is not larger than plain. `plans` maps background QP -> plan
    (the same object QPs); frame, blur, ctu and plain use the first plan.

    `plain_search`: the plain reference is plain VVC at the coarsest QP that still keeps every object
    (`coarsest_plain`, searched from the lowest object QP of the plan at offset 0), so no file is larger than the
    plain VVC a user could have used for the same detections. `lower`: when no candidate keeps every object, or
    only ones dearer than an objects candidate that lost some, the
    objects lost by the objects candidate that keeps the most are coded finer (`lower_step` QPs a round, at most
    LOWER_ROUNDS, until the file is larger than plain VVC at the plan's lowest object QP, or where that plain
    file loses an object (plain_search) than the smallest plain VVC that keeps them all) before any plain
    fall-back (the search's verification runs this too): a JRD over-predicted for one object made the
    file a plain VVC of the whole picture (on the photos 65 of 73 offset-0 files of the prior were plain VVC).
    `offset` is the JRD offset the plans carry. When the
    plan codes some object coarser than its JRD (an offset above 0, a QP floor above the JRD) the user asked for
    coarser, and the file is the cheapest of the plan's candidates (it may lose objects: that was asked), never
    larger than plain VVC at the plan's lowest object QP. Under a QP floor (the plan's `qp_min`) no plain
    fall-back is finer than the floor either: an object that is lost at its QP there stays lost. A background finer
    than DEFAULT_BG_QP (`--bg-qp 45`) was asked for too: the objects file at it that keeps the most objects,
    whatever plain VVC costs."""
    from concurrent.futures import ThreadPoolExecutor

    bgs = list(plans)  # coarsest first
    first = plans[bgs[0]]
    jobs = [(m, first) for m in modes if m in ("objects", "frame", "blur", "ctu")]
    kw = dict(encoder=encoder, matrix=matrix, cache=cache, display=display)
    # frame mode at the lowest object QP (fewer than 10 objects: QPPlan.frame_qp) is plain VVC at that QP, the
    # same stream: coded once, and plain is that candidate under its own name
    same_as_frame = "frame" in modes and first.frame_qp == first.min_qp
    with ThreadPoolExecutor(max(1, workers)) as pool:  # the encoders are processes: two run side by side
        plain = None if same_as_frame else pool.submit(code_candidate, frame, first, "plain", params,
                                                       qp=first.min_qp, name="plain", **kw)
        futs = [pool.submit(code_candidate, frame, p, m, params, **kw) for m, p in jobs]
        cands = [f.result() for f in futs]
        if plain is not None:
            plain_c = plain.result()
        else:
            f = next(c for c in cands if c.mode == "frame")
            plain_c = Candidate("plain", "plain", None, replace(f.coded, mode="plain"), f.bytes, seconds=f.seconds)
    cands.append(plain_c)
    # Never larger than plain. Checked cheapest first, so the first that passes is the answer and the dearer ones
    # are never decoded.
    check = dict(detector=detector, rule=rule, protect=protect, original=original, decoder=decoder, matrix=matrix,
                 cache=cache)
    # A QP floor (`--qp-min`) holds for the plain fall-backs too: an object whose JRD was over-predicted is lost at
    # the floor rather than rescued by a plain VVC finer than it (on the photos 28-33 floor points of the prior and
    # dtjrd curves were such rescues, 15-27 % of their bytes; one QP for every object never took that path).
    floor = int(first.qp_min) if 0 < int(first.qp_min) <= 63 else 0

    def order(cs):
        return sorted(cs, key=lambda c: (c.bytes, c.name))

    def cap_by_plain(best: Candidate, why: str) -> tuple[Candidate, str]:
        """`best`, or (plain_search) the smaller plain VVC that keeps the objects it keeps (smaller_plain_keeping)."""
        if not (plain_search and protect):
            return best, why
        plain = smaller_plain_keeping(frame, first, params, best, check=check, kw=kw, known=cands, floor=floor)
        if plain is None:
            return best, why
        if not any(c is plain for c in cands):  # coded afresh here, not one of coarsest_plain's probes
            cands.append(plain)
        return plain, why + f"; {plain.name} keeps the same objects in fewer bytes"

    if bgs[-1] < DEFAULT_BG_QP and protect and "objects" in modes:
        # A background finer than every default one (`--bg-qp` below 51): a better picture than the JRD plan's was
        # asked for, at its cost. Objects mode is the one that codes a background (frame and blur have one QP and
        # take the usual path), so the file is its cheapest background that keeps every object, else the one that
        # keeps the most; not replaced by a smaller plain VVC (that one is coarser: what the user asked to go
        # beyond). Its objects at or above the background QP ride in it: at a background below every object QP the
        # file is plain VVC at it.
        pool = order(c for c in cands if c.mode == "objects")
        for bg in bgs[1:]:
            pool.append(code_candidate(frame, plans[bg], "objects", params, **kw))
            cands.append(pool[-1])
        for c in pool:
            check_candidate(c, **check)
        best = min(pool, key=lambda c: (-sum(c.kept), c.false_detections, c.bytes, c.name))
        if lower and not best.passed:
            # the objects it loses coded finer, as at the default backgrounds, whatever that costs: a finer
            # background never keeps fewer objects than the JRD plan's file (on the photos one QP for every object
            # kept 59 % of the objects at background 45 and all of them at 63, where the rounds ran)
            best = _lower_lost(frame, cands, params, sys.maxsize, check=check, kw=kw) or best
        if lower:
            best = raised_to_median(best, frame, params, cands, check=check, kw=kw)
        why = (f"a background finer than the default ones (QP {bgs[-1]}), as asked: {best.name}, "
               f"{sum(best.kept)}/{len(best.kept)} objects still detected")
        return Choice(best, cands, why)

    if first.given_up or any(r.qp > r.jrd for r in first.regions):
        # The plan's own candidates only: offering the plain reference moved by the offset lost most objects at +2
        # on the photo set (the reference is the last QP that keeps them): a cliff, not a coarser plan.
        pool = order(c for c in cands if c.mode != "plain")
        best = pool[0] if pool and pool[0].bytes <= plain_c.bytes else plain_c
        check_candidate(best, **check)
        asked = f"offset {offset:+d}" + (f", QP floor {first.qp_min}" if first.qp_min else "")
        why = (f"the plan at {asked} (coarser than the JRD, as asked): the cheapest candidate, "
               f"{sum(best.kept)}/{len(best.kept)} objects still detected")
        # and never larger than a plain VVC that keeps the same objects, so a coarser plan never costs more than a
        # finer one whose answer was such a plain file
        best, why = cap_by_plain(best, why)
        return Choice(best, cands, why)

    def split(c: Candidate) -> Candidate | None:
        """An objects candidate whose touching objects share streams, coded again with one stream per object:
        the alternative once it fails (the search measured each JRD in a crop of its own)."""
        if c.mode != "objects" or not any(st.shared for st in c.coded.streams):
            return None
        t = code_candidate(frame, c.coded.plan, "objects", params, name=f"{c.name}/split", merge_tolerance=-1, **kw)
        cands.append(t)
        return t if t.bytes <= plain_c.bytes else None

    eligible, best = order(c for c in cands if c.bytes <= plain_c.bytes and c is not plain_c), None
    while eligible:
        c = eligible.pop(0)
        if check_candidate(c, **check).passed:
            best = c
            break
        t = split(c)
        eligible = order(eligible + [t]) if t is not None else eligible
    # A finer background (objects@57, @51) costs more than the coarser one: it is coded only when the coarser
    # failed and was still cheaper than the best so far.
    prev = next((c for c in cands if c.mode == "objects"), None)
    for bg in bgs[1:]:
        if prev is None or not prev.checked or prev.passed or (best is not None and prev.bytes >= best.bytes):
            break
        c = code_candidate(frame, plans[bg], "objects", params, **kw)
        cands.append(c)
        if c.bytes > plain_c.bytes or (best is not None and c.bytes >= best.bytes):
            break
        if check_candidate(c, **check).passed:
            best = c
            break
        t = split(c) if best is None else None  # with a passing candidate in hand, a split finer one rarely wins
        if t is not None and check_candidate(t, **check).passed:
            best = t
            break
        prev = c
    searched = plain_search and bool(protect)  # nothing to keep: the mode's own (background) file is the answer
    ref, found_ref, skipped = None, False, None

    def plain_reference(beat: int | None) -> Candidate | None:
        """(plain_search) plain VVC at the coarsest QP that keeps every object, searched from the lowest object QP
        of the plan at offset 0."""
        nonlocal skipped
        start = max(floor, min(r.jrd for r in first.regions))
        got, tried, skipped = coarsest_plain(frame, first, params, max(0, min(63, start)), check=check, kw=kw,
                                             beat=beat, known=[plain_c], floor=floor)
        cands.extend(tried)
        return got

    if best is None and lower and protect:
        limit = plain_c.bytes
        if searched and not checked_once(plain_c, check).passed:
            # plain at the lowest object QP loses an object: the file may cost what the smallest plain VVC that
            # keeps them all costs, so the lowering may go that far (measured: a crab photo's objects file lost the
            # crab, its first finer round cost more than that plain file, and plain VVC at QP 42 was written)
            ref, found_ref = plain_reference(None), True
            limit = max(limit, ref.bytes) if ref is not None else limit
            # the objects files dearer than that failing plain file were never checked: the cheapest that keeps
            # them all wins, else the lowering starts from them (a sheep filling the picture: objects@63 ~0.9 kB
            # against plain VVC at QP 51's 0.8 kB, both losing it; plain VVC keeps it from QP 42, 6.2 kB)
            for c in order(c for c in cands if c.mode == "objects" and not c.checked and c.bytes < limit):
                if check_candidate(c, **check).passed:
                    best = c
                    break
        if best is None:
            best = _lower_lost(frame, cands, params, limit, check=check, kw=kw)
    elif best is not None and lower and protect:
        # a passing candidate dearer than an objects file that lost an object (blur or plain VVC at a fragile
        # object's QP): the lowering's rounds are candidates too, tried while they cost less (Palais des Papes:
        # blur at QP 22 21 kB, where objects@51 kept 3 of 4 people in 7.8 kB)
        lowered = _lower_lost(frame, cands, params, best.bytes - 1, check=check, kw=kw)
        best = lowered if lowered is not None and lowered.bytes < best.bytes else best
    # The plain reference: plain at the lowest object QP, or (plain_search) the coarsest plain that keeps every
    # object; a passing plain file smaller than the best candidate is written instead.
    if not plain_search and best is None and check_candidate(plain_c, **check).passed:
        ref = plain_c
    if searched and not found_ref:
        ref = plain_reference(best.bytes if best is not None else None)
    # plain at the lowest object QP lost an object and a finer plain keeps them all (or, under a floor, the search
    # found none at or above it that does): the candidates dearer than plain's, up to the reference's size, are
    # now the cheaper way to keep them, so they are checked too (cheapest first)
    cap = ref.bytes if ref is not None else (float("inf") if searched and floor else None)
    if best is None and cap is not None and cap > plain_c.bytes:
        for c in order(c for c in cands if c.mode != "plain" and plain_c.bytes < c.bytes < cap):
            if checked_once(c, check).passed:
                best = c
                break
    if best is not None and lower and protect:
        best = raised_to_median(best, frame, params, cands, check=check, kw=kw)
    if ref is not None and (best is None or ref.bytes < best.bytes):
        best = ref
    if best is not None:
        why = "cheapest candidate that keeps every object" + (" (plain VVC)" if best.mode == "plain" else "")
    else:  # none passes: the most objects kept, the fewest false detections, the fewest bytes
        eligible = [checked_once(c, check) for c in cands if c.bytes <= plain_c.bytes]
        best = min(eligible, key=lambda c: (-sum(c.kept), c.false_detections, c.bytes, c.name))
        why = (f"no candidate kept every object without a false detection: {best.name} keeps the most "
               f"({sum(best.kept)}/{len(best.kept)})")
        best, why = cap_by_plain(best, why)  # nor is it larger than a plain VVC that keeps the same objects
    return Choice(best, cands, why, reference=ref, reference_skipped=skipped if ref is not None else None)
