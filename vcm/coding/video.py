"""JRD-guided coding of video: detection with boxes carried between detected frames, per-frame QP plans, segments
(one per intra period) at the lowest object QP in them, background suppression, object tracks, and the coded
video's units (see vcm.video_container).

Modes:
- `plain`: the clip as one random-access VVC sequence at one QP (the anchor).
- `frame`: one closed-GOP random-access sequence per segment at the segment's lowest object QP (the background
  QP where a segment has no object); the sequences joined are one standard bitstream.
- `objects`: as `frame`, but outside the union of the (margin-grown) object boxes each frame is low-pass
  filtered, with a feathered edge, before coding, so the encoder spends almost nothing on the background (the
  region-of-interest pre-processing of MPEG's VCM reference software works the same way).
- `intra`: the picture `objects` mode (vcm.coding.modes) on every frame: all-intra, the paper's setting.
- `ctu`: one random-access uvg266 sequence per segment whose CTUs carry the segment's CTU QPs (per CTU the lowest
  QP any of its frames asks for; vcm.coding.ctu): objects at their own QPs in one standard bitstream.

Every QP here is the QP of the sequence's intra picture: random access codes the other pictures at the GOP's
hierarchical offsets above it (vvenc's default GOP), which `--jrd-offset` can compensate.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from vcm.codec.base import EncodeParams, Encoder, YuvClip, YuvFrame
from vcm.errors import VcmError
from vcm.qp import DEFAULT_MARGIN, QPPlan, QPRegion, Rect
from vcm.types import Detections, EncodeResult, ObjectJRD

VIDEO_CODING_MODES = ("plain", "frame", "objects", "ctu")  # plus --intra (objects mode on every frame, all-intra)
SUPPRESS_FACTOR = 16  # background low-pass: shrunk 16x and blown up again
FEATHER = 16  # pixels over which the suppression fades in outside an object rectangle


# ------------------------------------------------------------------------------------------- detection, plans
@dataclass
class VideoAnalysis:
    """Per frame: detections (carried from the last detected frame where the detector did not run), whether
    the detector ran on it, and its objects with their JRDs (detected frames; empty elsewhere)."""

    width: int
    height: int
    detections: list[Detections]
    detected: list[bool]
    objects: list[list[ObjectJRD]]
    seconds: dict[str, float] = field(default_factory=dict)
    found: dict[int, int] = field(default_factory=dict)  # detected frame -> boxes found before the keep rule
    originals: dict[int, Detections] = field(default_factory=dict)  # detected frame -> every box found there

    @property
    def detected_indices(self) -> list[int]:
        return [i for i, d in enumerate(self.detected) if d]


def detection_frames(n: int, every: int) -> list[int]:
    """Frames the detector runs on: 0, k, 2k, ... and the last frame (so every frame lies between two)."""
    if every < 1:
        raise VcmError(f"detect every {every} frames is not a positive number", fix="use --detect-every 1 or more")
    idx = list(range(0, n, every))
    if n and idx[-1] != n - 1:
        idx.append(n - 1)
    return idx


def analyse(frames: Sequence[np.ndarray], detector: Any, predictor: Any | None, *, every: int = 1,
            fixed_jrd: int = 63, detections: Sequence[Detections] | None = None, rule: Any = None,
            progress: Callable[[], None] | None = None) -> VideoAnalysis:
    """Detect on every `every`-th RGB frame (and the last) and predict each object's JRD there (without a
    predictor every object gets `fixed_jrd`: placement only, as for plain coding). `detections`: the
    detector's output on those frames, when already known. With `rule`, only the objects it must keep
    (vcm.metrics.match) are the frames' objects, and objects no QP keeps get no region (as for pictures); the
    predictor sees the frame's weaker boxes as `others` (not false boxes: the one still-detected rule, as
    `vcm encode` gives a picture's). `progress()` is called once per predicted frame (`--jrd search` takes
    seconds a frame)."""
    n = len(frames)
    h, w = frames[0].shape[:2]
    idx = detection_frames(n, every)
    t = time.perf_counter()
    found = list(detections) if detections is not None else detector.detect([frames[i] for i in idx])
    if len(found) != len(idx):
        raise ValueError(f"{len(found)} detections for {len(idx)} detected frames")
    raw = {i: len(f) for i, f in zip(idx, found)}
    originals = dict(zip(idx, found))
    if rule is not None:
        found = [Detections(f.width, f.height, tuple(d for d in f if rule.keeps(d))) for f in found]
    t_det = time.perf_counter() - t
    t = time.perf_counter()
    objs_at = {}
    for i, d in zip(idx, found):
        objs_at[i] = (predictor.predict(frames[i], d, others=tuple(originals[i])) if predictor is not None
                      else [ObjectJRD(x, int(fixed_jrd), "plain") for x in d])
        if progress is not None:
            progress()
    objs_at = {i: [o for o in objs if not o.info.get("never_detected")] for i, objs in objs_at.items()}
    t_pred = time.perf_counter() - t
    dets, detected, objects = [], [], []
    j = 0
    for i in range(n):
        while j + 1 < len(idx) and idx[j + 1] <= i:
            j += 1
        dets.append(found[j])
        detected.append(idx[j] == i)
        objects.append(objs_at[i] if idx[j] == i else [])
    return VideoAnalysis(w, h, dets, detected, objects, {"detect": t_det, "predict": t_pred}, raw, originals)


def plan_frames(an: VideoAnalysis, *, offset: int = 0, bg_qp: int = 51, qp_min: int = 0,
                margin: int = DEFAULT_MARGIN) -> list[QPPlan]:
    """Every frame's QP plan (vcm.qp policy): a detected frame's own; a frame between two detected frames gets
    the regions of both (objects move between them)."""
    from vcm import qp as qpmod

    idx = an.detected_indices
    at = {i: qpmod.plan(an.objects[i], an.width, an.height, offset=offset, bg_qp=bg_qp, qp_min=qp_min,
                        margin=margin, give_up=False) for i in idx}  # objects mode erases what it does not protect
    out, j = [], 0
    for i in range(len(an.detected)):
        while j + 1 < len(idx) and idx[j + 1] <= i:
            j += 1
        a = idx[j]
        out.append(at[a] if a == i or j + 1 >= len(idx) else merge_plans(at[a], at[idx[j + 1]]))
    return out


def merge_plans(a: QPPlan, b: QPPlan) -> QPPlan:
    """The regions of both plans (a frame between two detected frames)."""
    regions = tuple(QPRegion(k, r.rect, r.qp, r.jrd) for k, r in enumerate(a.regions + b.regions))
    return replace(a, regions=regions)


# -------------------------------------------------------------------------------------------------- segments
@dataclass(frozen=True)
class Segment:
    """Frames [start, end) coded as one closed-GOP random-access sequence at `qp`."""

    index: int
    start: int
    end: int
    qp: int
    objects: int  # object regions over its frames (0: coded at the background QP)

    @property
    def frames(self) -> int:
        return self.end - self.start


def plan_segments(plans: Sequence[QPPlan], length: int, bg_qp: int | None = None) -> list[Segment]:
    """One segment per `length` frames; its QP is the robust lowest object QP of its frames' plans (as
    `QPPlan.frame_qp`: the lowest after leaving out FRAME_TRIM of the lowest; the background QP when none of
    its frames has an object)."""
    from vcm.qp import FRAME_TRIM

    if length < 1:
        raise VcmError(f"segment length {length} is not a positive number", fix="use --intra-period 1 or more")
    out = []
    for k, s in enumerate(range(0, len(plans), length)):
        ps = plans[s:s + length]
        n_obj = sum(len(p.regions) for p in ps)
        bg = ps[0].bg_qp if bg_qp is None else bg_qp
        qps = sorted(r.qp for p in ps for r in p.regions)
        qp = qps[int(len(qps) * FRAME_TRIM)] if qps else bg
        out.append(Segment(k, s, min(len(plans), s + length), int(qp), n_obj))
    return out


# ------------------------------------------------------------------------------------------ background suppression
def roi_mask(width: int, height: int, rects: Sequence[Rect], feather: int = FEATHER) -> np.ndarray:
    """Weights (height, width) float32: 1 inside the rectangles, falling to 0 over `feather` px outside them."""
    import cv2

    m = np.zeros((height, width), np.float32)
    for x, y, w, h in rects:
        m[y:y + h, x:x + w] = 1.0
    if feather > 0 and rects:
        k = 2 * feather + 1
        m = np.maximum(m, np.clip(cv2.blur(m, (k, k), borderType=cv2.BORDER_REPLICATE) * 2.0, 0.0, 1.0))
    return m


def suppress_background(frame: YuvFrame, rects: Sequence[Rect], factor: int = SUPPRESS_FACTOR,
                        feather: int = FEATHER) -> YuvFrame:
    """The frame low-pass filtered outside the union of `rects` (feathered), the original inside them."""
    from vcm.coding.regions import lowpass

    low = lowpass(frame, factor)
    if not rects:
        return low
    m = roi_mask(frame.width, frame.height, rects, feather)
    mc = m[::2, ::2]

    def mix(orig: np.ndarray, lo: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.rint(a * orig + (1.0 - a) * lo).astype(np.uint16)

    return YuvFrame(mix(frame.y, low.y, m), mix(frame.u, low.u, mc), mix(frame.v, low.v, mc), frame.display)


# ----------------------------------------------------------------------------------------------------- tracks
def link_tracks(detections: Sequence[Detections], iou: float = 0.3) -> list[list[int]]:
    """Track ids per detection per frame: greedy IoU matching with the previous frame (same class), new id else."""
    from vcm.metrics.match import iou_matrix

    out: list[list[int]] = []
    prev, prev_ids, next_id = None, [], 0
    for d in detections:
        ids = [-1] * len(d)
        if prev is not None and len(prev) and len(d):
            M = iou_matrix(prev.items, d.items)
            for a, b in sorted(np.argwhere(M >= iou).tolist(), key=lambda ab: -M[ab[0], ab[1]]):
                if ids[b] < 0 and prev_ids[a] not in ids and prev[a].class_id == d[b].class_id:
                    ids[b] = prev_ids[a]
        for k in range(len(ids)):
            if ids[k] < 0:
                ids[k], next_id = next_id, next_id + 1
        out.append(ids)
        prev, prev_ids = d, ids
    return out


# ---------------------------------------------------------------------------------------------------- coding
@dataclass
class CodedUnit:
    """One unit of a coded video: a random-access sequence (segment) or one all-intra vcm picture."""

    start: int
    frames: int
    qp: int
    data: bytes = field(repr=False)
    results: list[EncodeResult] = field(default_factory=list, repr=False)
    fresh_encodes: int = 0


@dataclass
class CodedVideo:
    mode: str  # plain, frame, objects, intra
    width: int  # display size
    height: int
    fps: float
    matrix: str
    units: list[CodedUnit]
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return sum(u.frames for u in self.units)

    @property
    def stream_bytes(self) -> int:
        return sum(len(u.data) for u in self.units)

    @property
    def encode_seconds(self) -> float:
        return sum(r.seconds for u in self.units for r in u.results if not r.cached)

    def to_file(self):
        from fractions import Fraction

        from vcm.video_container import VideoFile, VideoUnit

        return VideoFile(self.width, self.height, Fraction(self.fps).limit_denominator(1001), self.matrix, self.mode,
                         [VideoUnit(u.frames, u.qp, u.data) for u in self.units])


def _encode_sequence(frames: Sequence[YuvFrame], qp: int, params: EncodeParams, fps: float, encoder, matrix: str,
                     cache: bool, source: str) -> EncodeResult:
    from vcm.codec import encode

    clip = YuvClip([YuvFrame(f.y, f.u, f.v) for f in frames], fps=fps, matrix=matrix, source=source)
    return encode(clip, replace(params, qp=int(qp), intra=False), encoder=encoder, cache=cache)


def _map(fn: Callable, items: Sequence, workers: int | None) -> list:
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(items), workers or os.cpu_count() or 1)
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def code_video(mode: str, frames: Sequence[YuvFrame], plans: Sequence[QPPlan], params: EncodeParams, *,
               fps: float, qp: int | None = None, intra: bool = False, encoder: str | Encoder = "ffmpeg",
               matrix: str = "bt709", cache: bool = True, display: tuple[int, int] | None = None,
               suppress_factor: int = SUPPRESS_FACTOR, feather: int = FEATHER,
               workers: int | None = None) -> CodedVideo:
    """Code 10-bit frames in `mode` following the per-frame plans; segments are `params.intra_period` long."""
    from vcm.coding.modes import code_picture_mode, to_vcm_file
    from vcm.container import pack_vcm_file

    if mode not in VIDEO_CODING_MODES:
        raise VcmError(f"unknown video mode {mode!r}", fix=f"use one of {', '.join(VIDEO_CODING_MODES)}")
    if len(frames) != len(plans):
        raise ValueError(f"{len(frames)} frames but {len(plans)} plans")
    t0 = time.perf_counter()
    w, h = display or frames[0].display_size
    units: list[CodedUnit] = []
    if intra:
        if mode != "objects":
            raise VcmError(f"--intra codes objects mode on every frame, not {mode}", fix="use --mode objects --intra")

        def one(i: int) -> CodedUnit:
            cp = code_picture_mode("objects", frames[i], plans[i], replace(params, intra=True), encoder=encoder,
                                   matrix=matrix, cache=cache, display=(w, h))
            rs = [s.result for s in cp.streams]
            return CodedUnit(i, 1, cp.qp, pack_vcm_file(to_vcm_file(cp)), rs, sum(not r.cached for r in rs))

        units = _map(one, range(len(frames)), 1)  # code_picture_mode runs its crops side by side already
        coded_mode = "intra"
    elif mode == "plain":
        if qp is None:
            raise VcmError("plain mode needs a QP", fix="pass --qp Q (0..63)")
        r = _encode_sequence(frames, qp, params, fps, encoder, matrix, cache, "plain")
        units = [CodedUnit(0, len(frames), int(qp), r.bitstream.read_bytes(), [r], int(not r.cached))]
        coded_mode = "plain"
    else:
        segs = plan_segments(plans, params.intra_period)
        if mode == "ctu":
            encoder = ctu_encoder_for(encoder)
        units = _map(lambda sg: code_segment(mode, frames, plans, sg, sg.qp, params, fps=fps, encoder=encoder,
                                             matrix=matrix, cache=cache, suppress_factor=suppress_factor,
                                             feather=feather), segs, workers)
        coded_mode = mode
    return CodedVideo(coded_mode, w, h, fps, matrix, units, time.perf_counter() - t0,
                      {"preset": params.preset, "intra_period": params.intra_period,
                       "encoder": getattr(encoder, "name", encoder), "suppress_factor": suppress_factor,
                       "feather": feather})


def ctu_encoder_for(encoder: str | Encoder) -> Encoder:
    """The encoder `ctu` mode codes with (uvg266 or VTM; a VcmError naming the fix where neither is set up)."""
    from vcm.coding.ctu import ctu_encoder

    return ctu_encoder(encoder)


def code_segment(mode: str, frames: Sequence[YuvFrame], plans: Sequence[QPPlan], s: Segment, qp: int,
                 params: EncodeParams, *, fps: float, encoder: str | Encoder = "ffmpeg", matrix: str = "bt709",
                 cache: bool = True, suppress_factor: int = SUPPRESS_FACTOR, feather: int = FEATHER,
                 prepared: Sequence[YuvFrame] | None = None) -> CodedUnit:
    """Frames [s.start, s.end) as one closed-GOP random-access sequence in `mode` (plain, frame, objects, ctu)
    at `qp` (ctu: the plans' CTU QPs, their lowest at the slice QP). `prepared`: `segment_input` of the same
    arguments, when already made (auto codes one segment at several QPs)."""
    fr = list(frames[s.start:s.end])
    if mode == "ctu":
        from vcm.coding.ctu import encode_ctu, segment_map

        m = segment_map(list(plans[s.start:s.end]), limits=encoder.ctu_map_limits())
        r = encode_ctu(fr, [m], replace(params, intra=False), encoder, matrix, cache, fps, f"segment {s.index}")
        return CodedUnit(s.start, s.frames, m.base_qp, r.bitstream.read_bytes(), [r], int(not r.cached))
    fr = list(prepared) if prepared is not None else segment_input(mode, frames, plans, s, suppress_factor, feather)
    r = _encode_sequence(fr, qp, params, fps, encoder, matrix, cache, f"segment {s.index}")
    return CodedUnit(s.start, s.frames, int(qp), r.bitstream.read_bytes(), [r], int(not r.cached))


def segment_input(mode: str, frames: Sequence[YuvFrame], plans: Sequence[QPPlan], s: Segment,
                  suppress_factor: int = SUPPRESS_FACTOR, feather: int = FEATHER) -> list[YuvFrame]:
    """The frames the encoder gets for segment `s` in `mode` (objects: the background suppressed)."""
    fr = list(frames[s.start:s.end])
    if mode == "objects":
        fr = [suppress_background(f, [r.rect for r in p.regions], suppress_factor, feather)
              for f, p in zip(fr, plans[s.start:s.end])]
    return fr


# ------------------------------------------------------------------------------------------------ auto (per segment)
AUTO_STEP = 2  # QP step of the per-segment search
AUTO_STEPS = 4  # at most this many steps coarser than the family's first QP
AUTO_FAMILIES = ("objects", "plain")  # the candidates of every segment, each searched from the plan's QP
AUTO_CHECK = 4  # frames of a segment every trial is detected on; the written candidate is confirmed on all
AUTO_WORKERS = 2  # trials coded side by side, each encoder on one thread (libvvenc gains nothing from a second)


@dataclass
class SegmentChoice:
    """What auto mode tried on one segment: (mode, QP, bytes, objects kept on the check frames) per candidate,
    the frames every trial was checked on, the candidates confirmed on all the segment's frames with objects
    (mode, QP, objects kept there; the last one confirmed is written), and the one written (kept: on all)."""

    index: int
    start_qp: int
    objects: int  # objects to keep on the segment's detected frames
    tried: list[tuple[str, int, int, int]]
    chosen: tuple[str, int, int, int]
    check_frames: list[int] = field(default_factory=list)
    check_objects: int = 0  # objects to keep on the check frames
    confirmed: list[tuple[str, int, int]] = field(default_factory=list)
    target: int = 0  # objects the written candidate had to keep on all frames (the better plan-QP coding)
    # frame index -> the judge's boxes on the written candidate, decoded (choose_segments' `judge`); not in JSON
    found: dict[int, Detections] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "start_qp": self.start_qp, "objects": self.objects,
                "tried": [list(t) for t in self.tried], "chosen": list(self.chosen),
                "check_frames": list(self.check_frames), "check_objects": self.check_objects,
                "confirmed": [list(c) for c in self.confirmed], "target": self.target}


def check_positions(keep: Sequence[Sequence[Any]], n: int) -> list[int]:
    """Which of a segment's frames with objects (their kept boxes in frame order) every trial is checked on,
    at most `n`: the frame whose weakest kept object scores lowest (the first to lose one), the frame with the
    most kept objects, then frames spread evenly over the rest (so over the GOP's QP levels). In frame order."""
    m = len(keep)
    if m <= n:
        return list(range(m))
    pick = [min(range(m), key=lambda j: (min(d.score for d in keep[j]), j))]
    most = max(range(m), key=lambda j: (len(keep[j]), -j))
    if most not in pick and n > 1:
        pick.append(most)
    rest = [j for j in range(m) if j not in pick]
    need = n - len(pick)
    pick += [rest[int((k + 0.5) * len(rest) / need)] for k in range(need)]
    return sorted(pick)


class _SegmentTrials:
    """One segment's candidates (mode, QP): coded once each, decoded, and detected frame by frame as needed;
    `kept(key, positions)` counts the objects kept (the keep rule) on those of the segment's frames with objects."""

    def __init__(self, frames, plans, sg: Segment, params: EncodeParams, idx: list[int], orig: list[Detections],
                 keep: list[list[Any]], detector: Any, rule: Any, code_kw: dict, size: tuple[int, int],
                 decoder: str, matrix: str, workers: int, judge: Any = None):
        import threading

        self.frames, self.plans, self.sg, self.params = frames, plans, sg, params
        self.idx, self.orig, self.keep, self.detector, self.rule = idx, orig, keep, detector, rule
        self.code_kw, self.size, self.decoder, self.matrix, self.workers = code_kw, size, decoder, matrix, workers
        # judge: the final check's detector (boxes down to a lower score: a plain filter of `detector`'s), run
        # instead of `detector` so the written segment's boxes serve the final check too (no second detection)
        self.judge = judge
        self.units: dict[tuple[str, int], CodedUnit] = {}
        self.flags: dict[tuple[str, int], dict[int, int]] = {}  # key -> position -> objects kept there
        self.found: dict[tuple[str, int], dict[int, Detections]] = {}  # key -> position -> the judge's boxes
        self.inputs: dict[str, list[YuvFrame]] = {}  # mode -> the encoder's input frames
        self._lock = threading.Lock()

    def _one(self, key: tuple[str, int], positions: Sequence[int]) -> None:
        from vcm.codec import yuv_to_rgb
        from vcm.metrics.match import still_detected_all

        mode, qp = key
        if key not in self.units:
            threads = 1 if self.workers > 1 else self.params.threads
            with self._lock:
                if mode not in self.inputs:  # made once per segment, not once per QP
                    self.inputs[mode] = segment_input(mode, self.frames, self.plans, self.sg)
            self.units[key] = code_segment(mode, self.frames, self.plans, self.sg, qp,
                                           replace(self.params, threads=threads), prepared=self.inputs[mode],
                                           **self.code_kw)
            self.flags[key] = {}
        todo = [p for p in positions if p not in self.flags[key]]
        if not todo:
            return
        u = self.units[key]
        dec = decode_units("plain", [(u.frames, u.data)], *self.size, self.decoder)
        rgb = [yuv_to_rgb(dec[self.idx[p] - self.sg.start], self.matrix) for p in todo]
        with self._lock:  # one detector run at a time (it uses the cores itself); the other trial codes meanwhile
            found = (self.judge or self.detector).detect(rgb)
        for p, f in zip(todo, found):
            if self.judge is not None:  # the judge's boxes kept, the detector's own (its threshold) counted
                self.found.setdefault(key, {})[p] = f
                if self.judge is not self.detector:
                    f = Detections(f.width, f.height,
                                   tuple(d for d in f if d.score >= self.detector.score_threshold))
            self.flags[key][p] = sum(still_detected_all(self.keep[p], f, self.rule, others=self.orig[p]))

    def run(self, keys: Sequence[tuple[str, int]], positions: Sequence[int]) -> None:
        """Code and check `keys` on `positions`, up to `workers` side by side."""
        keys = [k for k in dict.fromkeys(keys) if k not in self.flags or any(p not in self.flags[k] for p in positions)]
        _map(lambda k: self._one(k, positions), keys, self.workers)

    def kept(self, key: tuple[str, int], positions: Sequence[int]) -> int:
        self.run([key], positions)
        return sum(self.flags[key][p] for p in positions)


def choose_segments(frames: Sequence[YuvFrame], plans: Sequence[QPPlan], params: EncodeParams, *, fps: float,
                    originals: dict[int, Detections], detector: Any, rule: Any, offset: int = 0,
                    encoder: str | Encoder = "ffmpeg", matrix: str = "bt709", cache: bool = True,
                    display: tuple[int, int] | None = None, decoder: str = "pyav",
                    progress: Callable[[int], None] | None = None, check: int = AUTO_CHECK,
                    workers: int | None = None, judge: Any = None) -> tuple[CodedVideo, list[SegmentChoice]]:
    """`auto` mode: per segment, the detector in the loop decides the QP the JRDs only start from (a JRD is
    measured all-intra; random access codes most pictures at the GOP's offsets, and plain random access kept most
    objects 4-8 QPs above the JRDs measured; docs/BENCHMARKS.md).

    Every candidate (mode, QP) is coded over the whole segment and detected on `check` of the segment's frames
    with objects (`check_positions`: the weakest, the fullest, then spread; 0: all of them); it passes when it
    keeps there as many objects as the bar: the better of the plan as asked (objects mode at the segment QP) and
    plain random access at that QP (coded only where objects mode loses an object there). Each family of
    AUTO_FAMILIES is searched over its first QP and up to AUTO_STEPS steps of AUTO_STEP coarser (`gallop`:
    the middle and the coarsest side by side, then the one between), `workers` trials side by side; plain starts
    one step above objects' coarsest passing QP (at the same QP it costs more) and is searched only where objects
    mode at the plan's QP lost an object on the check frames (where it kept every one, plain never won on the
    clips measured; docs/BENCHMARKS.md). The cheapest passing candidate is then confirmed on ALL the segment's
    frames with objects (it keeps as many there as the better of the two plan-QP codings), else the next
    cheapest, so a segment is never larger than the smallest plain random-access coding tried that keeps the
    same objects. Offsets above 0 write the objects plan at that offset as it is (coarser, as asked).

    `judge`: the detector the final check runs on decoded frames (`detector` with boxes down to a lower score,
    Detector.conf_is_a_filter); the trials run it instead and count the boxes at `detector`'s threshold (the
    same count), and each choice's `found` holds its boxes on the written candidate's frames with objects, so
    the final check does not detect those frames again."""
    t0 = time.perf_counter()
    w, h = display or frames[0].display_size
    workers = max(1, min(AUTO_WORKERS if workers is None else workers, os.cpu_count() or 1))
    code_kw = {"fps": fps, "encoder": encoder, "matrix": matrix, "cache": cache}
    units, choices = [], []
    for sg in plan_segments(plans, params.intra_period):
        # only frames with an object to keep can lose one: the others are neither decoded nor detected
        idx = [i for i in sorted(originals) if sg.start <= i < sg.end and any(map(rule.keeps, originals[i]))]
        orig = [originals[i] for i in idx]
        keep = [[d for d in o if rule.keeps(d)] for o in orig]
        n_keep = sum(map(len, keep))
        tr = _SegmentTrials(frames, plans, sg, params, idx, orig, keep, detector, rule, code_kw, (w, h), decoder,
                            matrix, workers, judge)
        every = list(range(len(idx)))
        sub = check_positions(keep, check) if check else every
        start = sg.qp
        confirmed: list[tuple[str, int, int]] = []
        if offset > 0 or not n_keep:  # as asked (no object: the background QP, nothing to check)
            key = ("objects", max(0, min(63, start)))
            target = tr.kept(key, every)
        else:
            # the bar: what the plan as asked keeps, or plain random access at the plan's QP if that keeps more
            # (objects mode's low-passed background can cost a box its rank against a false box; plain is coded
            # only where objects mode loses an object on the check frames: it cannot keep more than all)
            bars = [(m, max(0, min(63, start))) for m in AUTO_FAMILIES]
            bar = tr.kept(bars[0], sub)
            objects_keep_all = bar == sum(len(keep[p]) for p in sub)
            if not objects_keep_all:
                bar = max(bar, tr.kept(bars[1], sub))

            def passes(key: tuple[str, int]) -> bool:
                return tr.kept(key, sub) >= bar

            def gallop(fam: str, qps: list[int]) -> None:
                """The family's QPs (finest first): the first; where it fails the next (one flicker allowed);
                where it passes the middle and the coarsest side by side, then the one between the two that
                decide (a candidate passing coarser than one failing is taken as it is: it kept the objects)."""
                if not passes((fam, qps[0])):
                    if len(qps) > 1 and passes((fam, qps[1])):
                        gallop(fam, qps[1:])
                    return
                lo, hi = 0, len(qps) - 1  # lo passes; above hi nothing is tried
                while hi > lo:
                    mid = (lo + hi + 1) // 2
                    probe = [qps[mid]] + ([qps[hi]] if hi != mid and workers > 1 else [])
                    tr.run([(fam, q) for q in probe], sub)
                    if len(probe) > 1 and passes((fam, qps[hi])):
                        return
                    if passes((fam, qps[mid])):
                        lo = mid
                        hi = hi - 1 if len(probe) > 1 else hi
                    else:
                        hi = mid - 1

            first = start
            for fam in AUTO_FAMILIES:
                if fam == "plain" and objects_keep_all:
                    break  # objects mode keeps every object at the plan's QP: plain did not win there (measured)
                qps = list(dict.fromkeys(max(0, min(63, first + k * AUTO_STEP)) for k in range(AUTO_STEPS + 1)))
                gallop(fam, qps)
                # plain codes the background objects mode low-passes: at the same QP it costs more (measured
                # 17-21 % on the street clip), so the next family starts a step above the coarsest QP passing so far
                first = max(q for (m, q) in tr.units if passes((m, q))) + AUTO_STEP
            # the cheapest passing candidate that keeps as many on all frames as the better of the bars there
            size = lambda k: (len(tr.units[k].data), k)  # noqa: E731
            pool = sorted((k for k in tr.units if passes(k)), key=size)
            pool += [bars[0]] if bars[0] not in pool else []
            target = None
            while pool:
                key = pool.pop(0)
                got = tr.kept(key, every)
                if got < n_keep and target is None:  # the bars on every frame, only when needed
                    target = max(tr.kept(b, every) for b in bars)
                    pool = sorted(set(pool) | {b for b in bars if b != key and tr.kept(b, every) == target},
                                  key=size)
                confirmed.append((key[0], key[1], got))
                if got >= (n_keep if target is None else target):
                    break
            else:  # unreachable: the better bar keeps the target by definition
                raise AssertionError("no auto candidate kept the bar")
            target = n_keep if target is None else target
        m, q = key
        u = tr.units[key]
        others = [x for k, x in tr.units.items() if k != key]
        u.results = [u.results[0]] + [r for x in others for r in x.results]  # all trials
        u.fresh_encodes = sum(x.fresh_encodes for x in tr.units.values())
        units.append(u)
        choices.append(SegmentChoice(
            sg.index, start, n_keep, [(mm, qq, len(x.data), tr.kept((mm, qq), sub)) for (mm, qq), x in
                                      sorted(tr.units.items())],
            (m, q, len(u.data), tr.kept(key, every)), [idx[p] for p in sub], sum(len(keep[p]) for p in sub),
            confirmed, target, {idx[p]: f for p, f in tr.found.get(key, {}).items()}))
        if progress is not None:
            progress(sg.frames)
    coded = CodedVideo("auto", w, h, fps, matrix, units, time.perf_counter() - t0,
                       {"preset": params.preset, "intra_period": params.intra_period,
                        "encoder": getattr(encoder, "name", encoder), "auto": [c.to_json() for c in choices]})
    return coded, choices


# ---------------------------------------------------------------------------------------------------- decoding
def decode_units(mode: str, units: Sequence[tuple[int, bytes]], width: int, height: int,
                 decoder: str = "pyav") -> list[YuvFrame]:
    """Decode a video's units to frames (display size set): sequences decoded whole (their frames in output
    order), picture units assembled like `vcm decode` does for pictures. `units`: (frames, bytes) each."""
    import tempfile
    from pathlib import Path

    from vcm.codec import decode
    from vcm.coding.modes import read_coded_file

    out: list[YuvFrame] = []
    with tempfile.TemporaryDirectory(prefix="vcm-video-") as tmp:
        for k, (n, data) in enumerate(units):
            p = Path(tmp) / f"unit{k}.266"
            p.write_bytes(data)
            if mode == "intra":
                frame, _ = read_coded_file(p, decoder)
                got = [frame]
            else:
                got = decode(p, decoder)
            if len(got) != n:
                raise VcmError(f"unit {k} decoded to {len(got)} frames, its record says {n}",
                               fix="the file is damaged: re-encode it")
            for f in got:
                f.display = (width, height) if (width, height) != (f.width, f.height) else None
            out.extend(got)
    return out


def decode_video_file(path, decoder: str = "pyav") -> tuple[list[YuvFrame], Any]:
    """A vcm video file -> (frames, VideoFile)."""
    from vcm.video_container import read_video_file

    vf = read_video_file(path)
    frames = decode_units(vf.mode, [(u.frames, u.data) for u in vf.units], vf.width, vf.height, decoder)
    return frames, vf
