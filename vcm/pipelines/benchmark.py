"""`vcm benchmark`: bits saved against plain VVC at equal detection accuracy, over a folder of pictures.

For every picture the detector runs on the original (the pseudo ground truth unless `--gt` is given, and the
objects the predictors see). Plain VVC at each QP is the anchor; every JRD mode (frame, objects, blur) with
every predictor gives one RD point per offset (and per background QP if asked) and, on the coarse side, one per
QP floor (object QP = max(JRD, floor), as `vcm encode --qp-min` writes it: the objects that need the finest QPs
are given up first). Each point is decoded exactly as `vcm decode` would and the detector runs on the result.

Per point the rows of points.csv keep each picture's bytes, bpp, kept fraction and encode time; mAP is
computed once per RD point over ALL pictures (one COCO evaluation), from the decoded detections saved in
detections.json, so `summarize` rebuilds summary.json from points.csv + detections.json without coding.

Resumable: every (picture, mode, predictor, point) result is written atomically under REPORT_DIR/.work/ with a
fingerprint of the settings that made it; a rerun skips results whose fingerprint matches, and the encode
cache (vcm.codec.cache) makes any re-encode free. Pictures are spread over `workers` processes, the detector
built once per worker.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vcm.errors import VcmError
from vcm.fsutil import sha256_file, write_json_atomic
from vcm.runner import digest, load_record, remove_stale_temps, run_tasks
from vcm.qp import MAX_QP
from vcm.settings import BENCH_JRD as DEFAULT_JRD, BENCH_MODES as DEFAULT_MODES, BENCH_OFFSETS as DEFAULT_OFFSETS
from vcm.settings import BENCH_ANCHOR, BENCH_QPS as DEFAULT_QPS, DEFAULT_BG_QP, GIVE_UP, GIVE_UP_MARGIN
from vcm.metrics.rd import CurvePoint, PointRow, aggregate, benchmark_bd
from vcm.report import (SUMMARY_FORMAT, curve_points_to_json, plot_rd, read_points_csv, summary_lines,
                        write_curves_csv, write_points_csv, write_report_md, write_summary_json)
from vcm.types import Detection, Detections

log = logging.getLogger(__name__)

JRD_MODES = ("frame", "objects", "blur", "ctu", "auto")
ALL_MODES = ("plain",) + JRD_MODES
PLAIN_PREDICTOR = "vvc"
MAP_SCORE = 0.05  # decoded pictures: boxes down to this score count for mAP
WORK = ".work"
FILES = ("points.csv", "curves.csv", "detections.json", "summary.json", "report.md", "rd.png")


@dataclass
class BenchmarkConfig:
    """Every setting of a benchmark run; all of it is recorded in summary.json."""

    data: Path
    out: Path
    gt: Path | None = None  # COCO json; None: the detections on the originals are the ground truth
    detector: str | None = None  # None: vcm.detect.DEFAULT_DETECTOR
    detector_options: dict[str, Any] = field(default_factory=dict)  # conf, iou, imgsz, classes, device
    jrd: tuple[str, ...] = DEFAULT_JRD
    qps: tuple[int, ...] = DEFAULT_QPS
    offsets: tuple[int, ...] | None = None  # None: BENCH_OFFSETS
    floors: tuple[int, ...] = ()  # QP floors for every predictor (one point each, offset 0); span_points adds more
    modes: tuple[str, ...] = DEFAULT_MODES
    bg_qps: tuple[int, ...] = ()  # objects mode's background QPs; frame/blur use the first (their QP is the
    # lowest object QP; the background QP only matters for a picture without objects). Empty: vcm.qp.DEFAULT_BG_QP
    preset: str = "faster"
    encoder: str = "ffmpeg"
    anchor_encoder: str | None = BENCH_ANCHOR  # `--anchor`: the plain-VVC anchor's encoder; None: `encoder`
    decoder: str = "pyav"
    matrix: str = "bt709"
    margin: int | None = None  # None: vcm.qp.DEFAULT_MARGIN
    iou: float | None = None  # the still-detected rule's IoU; None: vcm.metrics.match.MATCH_IOU
    rank: bool | None = None  # kept boxes must outscore the picture's false boxes; None: vcm.metrics.match.RANK
    baseline: str = "auto"  # auto: add fixed:Q (Q = median JRD of the set, BASELINE_FROM) unless a fixed:Q is given; none
    span: bool = True  # add offsets, floors (and anchor QPs) until every curve spans the anchor's mAP range (span_points)
    keep_score: float | None = None  # None: vcm.metrics.match.KEEP_SCORE (or the detector's threshold)
    detect_score: float | None = None  # None: the detector's threshold
    workers: int = 1
    executor: str = "local"  # vcm.runner: local processes or Ray tasks (results do not depend on it)
    ray_address: str | None = None
    limit: int | None = None  # only the first N pictures (sorted by name)
    progress: bool = True
    command: str = ""  # the command line, recorded to reproduce the run

    def __post_init__(self):
        from vcm import qp as qpmod
        from vcm.detect import DEFAULT_DETECTOR

        self.data, self.out = Path(self.data), Path(self.out)
        self.gt = Path(self.gt) if self.gt else None
        self.detector = self.detector or DEFAULT_DETECTOR
        self.margin = qpmod.DEFAULT_MARGIN if self.margin is None else int(self.margin)
        self.modes = tuple(dict.fromkeys(self.modes))
        for m in self.modes:
            if m not in ALL_MODES:
                raise VcmError(f"unknown mode {m!r}", fix=f"use --modes with some of {','.join(ALL_MODES)}")
        if "plain" not in self.modes:  # the anchor every BD-rate is measured against
            self.modes = ("plain",) + self.modes
        for q in tuple(self.qps) + tuple(self.bg_qps):
            if not 0 <= int(q) <= 63:
                raise VcmError(f"QP {q} is outside 0..63", fix="give QPs between 0 and 63")
        if len(self.qps) < 2:
            raise VcmError("the plain VVC anchor needs at least 2 QPs (4 or more for BD-rate)",
                           fix="pass --qps 22,27,32,37,42,47")
        if any(m in JRD_MODES for m in self.modes) and not self.jrd:
            raise VcmError("JRD modes need at least one predictor", fix="pass --jrd search,prior")
        if self.offsets is not None and not self.offsets:
            raise VcmError("no offsets given", fix="pass --offsets=-8,-4,0")
        self.qps = tuple(sorted({int(q) for q in self.qps}))
        if self.offsets is not None:
            self.offsets = tuple(sorted({int(o) for o in self.offsets}))
        for q in self.floors:
            if not 0 <= int(q) <= GIVE_UP:
                raise VcmError(f"QP floor {q} is outside 0..{GIVE_UP}",
                               fix=f"give floors between 0 and {GIVE_UP}, e.g. --floors 44,48")
        self.floors = tuple(sorted({int(q) for q in self.floors}))
        self.bg_qps = tuple(sorted({int(q) for q in self.bg_qps}))
        self.jrd = tuple(dict.fromkeys(s.strip() for s in self.jrd if s.strip()))
        if self.workers < 1:
            raise VcmError(f"--workers {self.workers} is not a positive number", fix="use --workers 1 or more")
        if self.baseline not in ("auto", "none"):
            raise VcmError(f"unknown baseline {self.baseline!r}", fix="use --baseline auto or none (or --jrd ...,fixed:Q)")
        self.extra_offsets: dict[str, tuple[int, ...]] = {}  # added per predictor by span_points, run by run
        self.extra_floors: dict[str, tuple[int, ...]] = {}  # the same for QP floors
        self.extra_qps: tuple[int, ...] = ()  # anchor QPs added by span_points
        self.extra_bgs: dict[str, tuple[int, ...]] = {}  # finer background QPs (offset 0) added by span_points

    @property
    def all_qps(self) -> tuple[int, ...]:
        """The anchor's QPs: the given ones and those span_points added."""
        return tuple(sorted(set(self.qps) | set(self.extra_qps)))

    def offsets_for(self, predictor: str) -> tuple[int, ...]:
        """The JRD offsets (one RD point each) of this predictor: the given ones, else the defaults."""
        base = self.offsets if self.offsets is not None else DEFAULT_OFFSETS
        return tuple(sorted(set(base) | set(self.extra_offsets.get(predictor, ()))))

    def floors_for(self, predictor: str) -> tuple[int, ...]:
        """The QP floors (one RD point each, at offset 0) of this predictor: the given ones and those added."""
        return tuple(sorted(set(self.floors) | set(self.extra_floors.get(predictor, ()))))

    def backgrounds_for(self, predictor: str) -> tuple[int, ...]:
        """The finer background QPs (one RD point each, offset 0, objects mode's background) span_points added."""
        return self.extra_bgs.get(predictor, ())

    def points_for(self, predictor: str) -> list[tuple[int, int | None]]:
        """Every (offset, floor) RD point of this predictor: the offsets without a floor, then the floors."""
        return [(o, None) for o in self.offsets_for(predictor)] + [(0, f) for f in self.floors_for(predictor)]

    def command_line(self) -> str:
        """The `vcm benchmark` command that reproduces this run (every setting spelled out)."""
        import shlex

        args = ["vcm", "benchmark", str(self.data), "-o", str(self.out)]
        if self.gt:
            args += ["--gt", str(self.gt)]
        args += ["--detector", str(self.detector)]
        for k, v in self.detector_options.items():
            args += [{"iou": "--iou"}.get(k, f"--{k}"), str(v)]
        args += ["--jrd", ",".join(self.jrd),
                 "--qps", ",".join(map(str, self.qps)),
                 *([f"--offsets={','.join(map(str, self.offsets))}"] if self.offsets else []),
                 *([f"--floors={','.join(map(str, self.floors))}"] if self.floors else []),
                 "--modes", ",".join(self.modes)]
        if self.bg_qps:
            args += ["--bg-qps", ",".join(map(str, self.bg_qps))]
        args += ["--preset", self.preset, "--encoder", self.encoder]
        args += ["--anchor", self.anchor_encoder] if self.anchor_encoder else []
        args += ["--decoder", self.decoder, "--matrix", self.matrix, "--margin", str(self.margin),
                 "--workers", str(self.workers)]
        if self.iou is not None:
            args += ["--match-iou", str(self.iou)]
        if self.rank is not None:
            args += ["--rank" if self.rank else "--no-rank"]
        if self.baseline != "auto":
            args += ["--baseline", self.baseline]
        if not self.span:
            args += ["--no-span"]
        for k in ("keep_score", "detect_score"):
            if getattr(self, k) is not None:
                args += [f"--{k.replace('_', '-')}", str(getattr(self, k))]
        if self.limit:
            args += ["--limit", str(self.limit)]
        return shlex.join(args)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("data", "out", "gt"):
            d[k] = str(d[k]) if d[k] is not None else None
        d.pop("progress")
        d.pop("command")  # recorded once, at the top of summary.json
        d["extra_offsets"] = {k: list(v) for k, v in self.extra_offsets.items()}
        d["extra_floors"] = {k: list(v) for k, v in self.extra_floors.items()}
        d["extra_qps"] = list(self.extra_qps)
        d["extra_bgs"] = {k: list(v) for k, v in self.extra_bgs.items()}
        return d


@dataclass
class PointResult:
    """What one (picture, mode, predictor, point) produced: its row and the decoded picture's detections."""

    row: PointRow
    detections: list[dict[str, Any]]
    fresh_encodes: int = 0  # streams the encoder really ran for (0: every stream came from the cache)
    resumed: bool = False


@dataclass
class PictureOutcome:
    picture: str
    width: int
    height: int
    original: list[dict[str, Any]]  # the objects to keep (score >= keep score): the pseudo ground truth
    results: list[PointResult] = field(default_factory=list)
    dont_care: list[dict[str, Any]] = field(default_factory=list)  # detect score <= score < keep score
    jrds: dict[str, list[int | None]] = field(default_factory=dict)  # per kept object; None: no QP keeps it
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------- pictures
def anchor_encoder(cfg: "BenchmarkConfig", encoder):
    """The plain-VVC anchor's encoder (`--anchor`; none: the JRD modes' `encoder`); a missing one is refused in
    `--anchor` terms (its own fix names --encoder, another option)."""
    from vcm.codec import create_encoder

    if not cfg.anchor_encoder:
        return encoder
    anchor = create_encoder(cfg.anchor_encoder, check=False)
    if not anchor.available():
        raise VcmError(f"--anchor {cfg.anchor_encoder}: that encoder is not usable on this machine (program missing)",
                       fix=f"leave --anchor out (plain VVC by --encoder {cfg.encoder}), or make "
                           f"{cfg.anchor_encoder} usable (`vcm doctor` says how)")
    return anchor


def list_pictures(data: Path, limit: int | None = None) -> list[Path]:
    """The pictures in DATA (not recursive), sorted by name: the set the benchmark runs over."""
    from vcm.media import PICTURE_EXTS

    if not data.exists():
        raise VcmError("no such folder", path=data, fix="give a folder of pictures")
    if data.is_file():
        pics = [data] if data.suffix.lower() in PICTURE_EXTS else []
    else:
        pics = sorted(p for p in data.iterdir() if p.is_file() and p.suffix.lower() in PICTURE_EXTS
                      and not p.name.startswith("."))
    if not pics:
        raise VcmError("no pictures (png/jpg/bmp/tif/webp) in this folder", path=data,
                       fix="give a folder holding pictures")
    return pics[:limit] if limit else pics


def point_id(mode: str, qp: int | None = None, offset: int | None = None, bg_qp: int | None = None,
             qp_min: int | None = None) -> str:
    if mode == "plain":
        return f"qp{qp}"
    return (f"off{offset:+d}" + (f"_min{qp_min}" if qp_min is not None else "")
            + (f"_bg{bg_qp}" if bg_qp is not None else ""))


def _digest(obj: Any) -> str:
    return digest(obj, 20)


CODE_PATHS = ("coding", "codec", "detect", "jrd", "qp.py", "container.py", "media.py", "types.py", "metrics/match.py")


def code_digest() -> str:
    """Hash of the vcm sources that shape a result (coding modes, codec, detectors, predictors, QP policy, file
    format): part of every fingerprint, so a rerun after a code change redoes the points instead of resuming
    stale ones (the encode cache still makes unchanged encodes free)."""
    import vcm

    root = Path(vcm.__file__).parent
    h = hashlib.sha256()
    for rel in CODE_PATHS:
        p = root / rel
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


# ---------------------------------------------------------------------------------------------- worker
_STATE: dict[str, Any] = {}


def _init_worker(cfg: BenchmarkConfig) -> None:
    """Build the detector (once per worker process) and the encoder description every result records."""
    from vcm.codec import create_encoder
    from vcm.detect import create_detector
    from vcm.metrics.match import StillDetectedRule

    det = create_detector(cfg.detector, **cfg.detector_options)
    # mAP on decoded pictures counts the detector's boxes down to MAP_SCORE (COCO practice), so a box that
    # flickers around one threshold does not make a curve non-monotone; detectors without a score knob count
    # what they return.
    det_map = det
    if det.conf_is_a_filter and "conf" not in cfg.detector_options:
        det_map = create_detector(cfg.detector, **{**cfg.detector_options, "conf": MAP_SCORE})
    enc = create_encoder(cfg.encoder)
    anchor = anchor_encoder(cfg, enc)
    rule = StillDetectedRule.for_detector(det, iou=cfg.iou, keep_score=cfg.keep_score, detect_score=cfg.detect_score,
                                          rank=cfg.rank)
    _STATE.clear()
    _STATE.update(cfg=cfg, detector=det, detector_map=det_map, rule=rule,
                  encoder={"name": enc.name, "version": enc.version()},
                  anchor={"name": anchor.name, "version": anchor.version()}, predictors={}, code=code_digest())


def _predictor(spec: str):
    from vcm.coding.choose import AUTO_BG_QPS
    from vcm.jrd import create_predictor

    cfg: BenchmarkConfig = _STATE["cfg"]
    preds = _STATE["predictors"]
    if spec not in preds:  # the search codes around each object at the coarsest background a point may use
        preds[spec] = create_predictor(spec, detector=_STATE["detector"], rule=_STATE["rule"],
                                       bg_qp=max(cfg.bg_qps) if cfg.bg_qps else AUTO_BG_QPS[0], margin=cfg.margin,
                                       preset=cfg.preset, encoder=cfg.encoder, matrix=cfg.matrix)
    return preds[spec]


def _coded_bytes(coded) -> int:
    """Everything the decoder needs: one whole-picture stream is a standard .266 on its own (the anchor); several
    streams need the vcm file with its placement SEI (vcm.container), counted in full. A JRD point counts the
    file `vcm encode` writes instead (`Candidate.bytes`, the SEI always in)."""
    if len(coded.streams) == 1:
        return coded.stream_bytes
    from vcm.coding.modes import to_vcm_file
    from vcm.container import pack_vcm_file

    return len(pack_vcm_file(to_vcm_file(coded)))


def _code_point(frame, rgb_shape, mode: str, plan, qp: int | None, original: Detections, encoder: str,
                others: Detections = ()):
    """Code one picture in `mode`, decode it as `vcm decode` does, detect on it: (row fields, detections, fresh)."""
    from vcm.codec import EncodeParams, yuv_to_rgb
    from vcm.coding import code_picture_mode, reconstruct

    cfg: BenchmarkConfig = _STATE["cfg"]
    h, w = rgb_shape[:2]
    params = EncodeParams(qp=int(qp if qp is not None else plan.bg_qp), preset=cfg.preset)
    coded = code_picture_mode(mode, frame, plan, params, qp=qp, encoder=encoder, matrix=cfg.matrix,
                              display=(w, h))
    rgb = yuv_to_rgb(reconstruct(coded, cfg.decoder), cfg.matrix)
    dets = _STATE["detector_map"].detect([rgb])[0]
    return _row_fields(coded, dets, original, w, h, others)


def _row_fields(coded, dets, original: Detections, w: int, h: int, others: Detections = (), nbytes: int | None = None):
    """points.csv fields of one coded picture and its decoded detections: (fields, detections json, fresh);
    `others`: the original's boxes under the keep score (not false boxes for the rule's rank test); `nbytes`: the
    file's size (None: `_coded_bytes`)."""
    from vcm.metrics.match import still_detected_all

    kept = sum(still_detected_all(original, dets, _STATE["rule"], others=others))
    nbytes = _coded_bytes(coded) if nbytes is None else nbytes
    qps = [s.qp for s in coded.streams]
    fields_ = dict(width=w, height=h, bytes=nbytes, bpp=8.0 * nbytes / (w * h), objects=len(original), kept=kept,
                   kept_fraction=kept / len(original) if len(original) else 1.0,
                   encode_s=round(sum(s.result.seconds for s in coded.streams), 4), min_qp=min(qps), max_qp=max(qps))
    fresh = sum(0 if s.result.cached else 1 for s in coded.streams)
    return fields_, [d.to_json() for d in dets], fresh


def _choose_point(frame, rgb_shape, modes: Sequence[str], plans: dict, protect: list, keep: Detections,
                  original_all: Detections, offset: int = 0):
    """One JRD point exactly as `vcm encode --jrd-offset --qp-min` writes it (vcm.coding.choose): a plan at its
    JRDs or finer gives the cheapest candidate that keeps every object, never larger than the smallest plain VVC
    that does; a plan coarser than its JRDs (an offset above 0, a floor above some JRD) the cheapest of its own
    candidates (coarser, as asked), so a curve's rate falls with its offset and floor by construction."""
    from vcm.codec import EncodeParams
    from vcm.coding.choose import choose

    cfg: BenchmarkConfig = _STATE["cfg"]
    h, w = rgb_shape[:2]
    first = next(iter(plans.values()))
    choice = choose(frame, plans, EncodeParams(qp=first.bg_qp, preset=cfg.preset), modes=modes,
                    detector=_STATE["detector_map"], rule=_STATE["rule"], protect=protect, original=original_all,
                    encoder=cfg.encoder, matrix=cfg.matrix, display=(w, h), decoder=cfg.decoder,
                    plain_search=True, offset=offset, lower=True)
    c = choice.chosen
    fields_, dets, _ = _row_fields(c.coded, c.found, keep, w, h, original_all, nbytes=c.bytes)
    fresh = sum(0 if st.result.cached else 1 for cand in choice.candidates for st in cand.coded.streams)
    return fields_, dets, fresh, c.name


def _picture_task(task: tuple[str, str]) -> PictureOutcome:
    return run_picture(*task)


def run_picture(path: str, key: str) -> PictureOutcome:
    """Every point of one picture (in a worker): resumes what .work holds, computes the rest."""
    from vcm import qp as qpmod
    from vcm.codec import rgb_to_yuv
    from vcm.media import read_picture

    cfg: BenchmarkConfig = _STATE["cfg"]
    t0 = time.perf_counter()
    work = cfg.out / WORK / _safe(key)
    rgb = read_picture(path)
    h, w = rgb.shape[:2]
    det = _STATE["detector"]
    base = {"picture_sha256": sha256_file(path), "detector": det.describe(), "code": _STATE["code"], "vcm_benchmark": 1}
    fp = _digest(base)
    doc = load_record(work / "original.json", fp)
    if doc is None:
        doc = {"fingerprint": fp, "width": w, "height": h, "detections": [d.to_json() for d in det.detect([rgb])[0]]}
        write_json_atomic(work / "original.json", doc)
    rule = _STATE["rule"]
    original_all = Detections(w, h, tuple(Detection.from_json(d) for d in doc["detections"]))
    keep = Detections(w, h, tuple(d for d in original_all if rule.keeps(d)))  # the pseudo ground truth
    out = PictureOutcome(key, w, h, [d.to_json() for d in keep],
                         dont_care=[d.to_json() for d in original_all if not rule.keeps(d)])
    frame = rgb_to_yuv(rgb, cfg.matrix)
    coding = {"encoder": _STATE["encoder"], "decoder": cfg.decoder, "preset": cfg.preset, "matrix": cfg.matrix,
              "margin": cfg.margin, "rule": rule.to_json(), "original": fp, "map_detector": _STATE["detector_map"].describe()}

    def point(mode: str, predictor: str, pid: str, settings: dict, compute, qp: int | None):
        pfp = _digest({**base, **coding, **settings, "mode": mode, "point": pid})
        f = work / f"{mode}__{_safe(predictor)}__{pid}.json"
        rec = load_record(f, pfp)
        if rec is not None:
            out.results.append(PointResult(PointRow(**rec["row"]), rec["detections"], 0, True))
            return
        fields_, dets, fresh, chosen = compute()
        row = PointRow(key, mode, predictor, pid, qp, settings.get("offset"), settings.get("bg_qp"), **fields_,
                       chosen=chosen, qp_min=settings.get("qp_min"))
        write_json_atomic(f, {"fingerprint": pfp, "row": asdict(row), "detections": dets})
        out.results.append(PointResult(row, dets, fresh, False))

    empty = qpmod.plan([], w, h)
    for q in cfg.all_qps:
        anchor = {"anchor": _STATE["anchor"]} if cfg.anchor_encoder else {}  # --anchor: plain VVC by that encoder
        point("plain", PLAIN_PREDICTOR, point_id("plain", qp=q), {"qp": q, **anchor},
              lambda q=q: (*_code_point(frame, rgb.shape, "plain", empty, q, keep, cfg.anchor_encoder or cfg.encoder,
                                        original_all), "plain"), q)
    jrd_modes = [m for m in cfg.modes if m in JRD_MODES]
    from vcm.coding.choose import AUTO_BG_QPS, auto_modes
    from vcm.types import ObjectJRD

    for spec in cfg.jrd if jrd_modes else ():
        pred = _predictor(spec)
        desc = pred.describe()
        jfp = _digest({**base, **coding, "predictor": desc})
        jf = work / f"jrd__{_safe(spec)}.json"
        jdoc = load_record(jf, jfp)
        if jdoc is None:
            objs = pred.predict(rgb, keep, others=original_all)
            jdoc = {"fingerprint": jfp, "predictor": desc, "jrd": [int(o.jrd) for o in objs],
                    "never_detected": [bool(o.info.get("never_detected")) for o in objs],
                    "info": [o.info for o in objs]}
            write_json_atomic(jf, jdoc)
        never = jdoc.get("never_detected") or [False] * len(keep)
        objs = [ObjectJRD(d, j, spec) for d, j, nd in zip(keep, jdoc["jrd"], never) if not nd]
        protect = [d for d, nd in zip(keep, never) if not nd]  # objects no QP keeps cost no bits
        out.jrds[spec] = [None if nd else j for j, nd in zip(jdoc["jrd"], never)]
        for mode in jrd_modes:
            modes = auto_modes() if mode == "auto" else (mode,)
            # a given background QP is one point per offset and QP; none given: chosen per picture (auto)
            bgs = [(bg,) for bg in cfg.bg_qps] if cfg.bg_qps and mode == "objects" else [tuple(AUTO_BG_QPS)]
            # every point: the offsets and floors over those backgrounds, then the finer backgrounds span_points
            # added (offset 0: the top of the curve, where the JRD plan's file stops gaining; only where objects
            # mode codes a background: frame and blur have one QP)
            runs = ([(o, f, b) for o, f in cfg.points_for(spec) for b in bgs]
                    + [(0, None, (b,)) for b in cfg.backgrounds_for(spec) if "objects" in modes])
            for off, floor, bg_set in runs:
                bg = bg_set[0] if len(bg_set) == 1 else None
                settings = {"predictor": desc, "offset": off, "bg_qp": bg, "bg_qps": list(bg_set),
                            **({"qp_min": floor} if floor is not None else {})}
                compute = (lambda off=off, floor=floor, bg_set=bg_set, modes=modes: _choose_point(
                    frame, rgb.shape, modes, {b: qpmod.plan(objs, w, h, offset=off, margin=cfg.margin, bg_qp=b,
                                                            qp_min=floor or 0)
                                              for b in bg_set}, protect, keep, original_all, off))
                point(mode, spec, point_id(mode, offset=off, bg_qp=bg, qp_min=floor), settings, compute, None)
    out.seconds = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------------------------------------- summary
def ground_truth(gt_path: Path | None, pictures: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """The COCO ground truth of the set: the file's boxes for these pictures (matched by file name), or the
    detections on the originals (pseudo ground truth)."""
    from vcm.gt import detections_to_coco, image_ids_by_name

    if gt_path is None:
        entries = [(k, Detections(v["width"], v["height"], tuple(Detection.from_json(d) for d in v["original"])))
                   for k, v in pictures.items()]
        dont_care = {k: Detections(v["width"], v["height"], tuple(Detection.from_json(d)
                                                                   for d in v.get("dont_care", ())))
                     for k, v in pictures.items()}
        return (detections_to_coco(entries, dont_care=dont_care),
                "pseudo (detections on the originals at the keep score; boxes between the detect and keep "
                "scores are iscrowd: neither hit nor false alarm)")
    from vcm.metrics.map import load_ground_truth

    full = load_ground_truth(gt_path)
    ids = image_ids_by_name(full)
    missing = [k for k in pictures if ids.get(k, ids.get(Path(k).name)) is None]
    if missing:
        raise VcmError(f"{len(missing)} pictures have no entry in the ground truth (first: {missing[0]})",
                       path=gt_path, fix="give a COCO json whose images[].file_name match the pictures, or drop --gt")
    keep = {ids.get(k, ids.get(Path(k).name)) for k in pictures}
    sub = dict(full, images=[im for im in full["images"] if im["id"] in keep],
               annotations=[a for a in full["annotations"] if a["image_id"] in keep])
    return sub, f"COCO file {gt_path}"


@dataclass(frozen=True)
class BenchmarkNumbers:
    """The numbers of a report folder rebuilt from points.csv + detections.json (`summarize`, no coding): the RD
    points, their BD entries (vcm.metrics.rd.benchmark_bd) and the ground truth they were scored against."""

    points: list[CurvePoint] = field(repr=False)
    bd: dict[str, Any]  # bd_rate, bd_rate_map, bd_rate_kept, saving_at_equal_map (keyed by curve), bd_fit
    ground_truth: str
    subsets: dict[str, Any] = field(default_factory=dict)  # pictures without objects; BD over those with objects

    def to_json(self) -> dict[str, Any]:
        return {"bd_rate": self.bd["bd_rate"], "saving_at_equal_map": self.bd["saving_at_equal_map"],
                "bd_rate_kept": self.bd["bd_rate_kept"], "ground_truth": self.ground_truth,
                "bd_rate_map": self.bd["bd_rate_map"], "bd_fit": self.bd["bd_fit"], "subsets": self.subsets,
                "curves": curve_points_to_json(self.points)}


@dataclass
class BenchmarkReport:
    """What `vcm benchmark` measured, on pictures or on videos: `to_json()` is summary.json; `points` are the RD
    points behind curves.csv, report.md and rd.png."""

    bd: dict[str, Any]  # the BD entries under their summary.json keys (pictures: SUMMARY_BD, videos: VIDEO_BD)
    pictures: int  # pictures (or videos) in the set
    picture_names: list[str]
    settings: dict[str, Any]
    versions: dict[str, Any]
    machine: dict[str, Any]
    command: str
    run: dict[str, Any]  # points computed and resumed, fresh encodes, seconds
    points: list[CurvePoint] = field(default_factory=list, repr=False)
    video: dict[str, Any] | None = None  # videos: frames, sample, intra period, modes, notes, encode time
    subsets: dict[str, Any] = field(default_factory=dict)  # BenchmarkNumbers.subsets

    @property
    def bd_rate(self) -> dict[str, Any]:
        """BD-rate on bpp vs mAP@0.5 of every curve against plain VVC (vcm.metrics.rd.bd_entry each)."""
        return self.bd["bd_rate"]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": SUMMARY_FORMAT, **self.bd, "pictures": self.pictures,
                             "picture_names": self.picture_names}
        if self.subsets:
            d["subsets"] = self.subsets
        if self.video is not None:
            d["video"] = self.video
        d.update(settings=self.settings, versions=self.versions, machine=self.machine, command=self.command,
                 run=self.run, curves=curve_points_to_json(self.points))
        return d


SUMMARY_BD = ("bd_rate", "bd_rate_map", "bd_fit", "saving_at_equal_map", "bd_rate_kept")  # summary.json's order
VIDEO_BD = ("bd_rate", "saving_at_equal_map", "bd_rate_kept")


def summarize(out_dir: str | Path, gt: str | Path | None = None) -> BenchmarkNumbers:
    """summary.json's numbers rebuilt from points.csv + detections.json (no coding): what the tests check."""
    out_dir = Path(out_dir)
    rows = read_points_csv(out_dir / "points.csv")
    try:
        pictures = json.loads((out_dir / "detections.json").read_text())["pictures"]
    except (OSError, ValueError, KeyError) as e:
        raise VcmError(f"cannot read the decoded detections ({e})", path=out_dir / "detections.json",
                       fix="rerun `vcm benchmark`") from None
    truth, gt_text = ground_truth(Path(gt) if gt else None, pictures)
    points = aggregate(rows, pictures, truth)
    return BenchmarkNumbers(points, benchmark_bd(points), gt_text, _subsets(rows, pictures, gt))


def _subsets(rows: Sequence[PointRow], pictures: dict[str, dict[str, Any]], gt) -> dict[str, Any]:
    """How many pictures hold no object to keep, and the BD-rates over the pictures that do: a picture with
    nothing to keep costs the JRD modes almost nothing and plain VVC its full rate, so the headline over all
    pictures mixes "no object, no bits" with the JRD's own saving."""
    empty = sorted(k for k, v in pictures.items() if not v.get("original"))
    out: dict[str, Any] = {"pictures_without_objects": len(empty), "pictures_with_objects": len(pictures) - len(empty)}
    if not empty or len(empty) == len(pictures):
        return out
    sub = {k: v for k, v in pictures.items() if v.get("original")}
    truth, _ = ground_truth(Path(gt) if gt else None, sub)
    pts = aggregate([r for r in rows if r.picture in sub], sub, truth)
    bd = benchmark_bd(pts)
    out["with_objects"] = {"bd_rate": bd["bd_rate"], "bd_rate_map": bd["bd_rate_map"]}
    return out


def _versions(enc: dict[str, str], detector_desc: dict, predictors: dict[str, Any],
              anchor: dict[str, str] | None = None) -> dict[str, Any]:
    from importlib import metadata

    from vcm import __version__

    def named(e: dict[str, str]) -> str:
        return e["version"] if e["version"].startswith(e["name"]) else f"{e['name']} {e['version']}"

    v = {"vcm": __version__, "python": platform.python_version(), "encoder": named(enc),
         "anchor_encoder": named(anchor or enc)}
    for pkg in ("numpy", "opencv-python", "av", "pycocotools", "bjontegaard", "matplotlib", "torch", "ultralytics"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    v["code_sha256"] = code_digest()
    v["git"] = _git_revision()
    v["detector"] = detector_desc
    v["predictors"] = predictors
    return v


def _git_revision() -> str | None:
    """The commit of the vcm checkout ("+dirty" with uncommitted changes), or None outside a git checkout."""
    import shutil
    import subprocess

    import vcm

    git = shutil.which("git")
    if git is None:
        return None
    root = Path(vcm.__file__).resolve().parents[1]
    try:
        head = subprocess.run([git, "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run([git, "--no-optional-locks", "-C", str(root), "status", "--porcelain",  # no index write
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "cpus": os.cpu_count()}


# ---------------------------------------------------------------------------------------------- run
MAX_ROUNDS = 8  # runs over the set: the first, then up to seven that add points (span_points)
MAX_GAP = 0.25  # span_points: the widest accuracy step between neighbouring floor points, as a share of the anchor's
OFFSET_MIN = -24  # span_points adds finer offsets down to this one (mAP@0.5:0.95 needs QP ~22 to reach the anchor's top)
BG_STEP = 6  # span_points: the step between the finer background QPs it adds (one quantiser-step doubling)
SPAN_STEP = 4  # span_points: the finer offsets step, and half the step between added QP floors
BASELINE_FROM = ("prior", "dtjrd")  # the automatic fixed:Q baseline takes Q from the first of these run


def _median_jrd(jrds: dict[str, list[int]], cfg: BenchmarkConfig) -> tuple[str, int] | None:
    """(predictor, median JRD over the set's objects) of the predictor the baseline's QP comes from."""
    import statistics

    specs = [s for s in cfg.jrd if s.split(":")[0] in BASELINE_FROM] + [s for s in cfg.jrd if s.startswith("search")]
    for spec in specs:
        if jrds.get(spec):
            return spec, int(round(statistics.median(jrds[spec])))
    return None


def next_points(points: Sequence[CurvePoint], cfg: BenchmarkConfig, jrds: dict[str, list[int]],
                gives_up: bool = True, backgrounds: bool = True) -> list[str]:
    """What the next round adds, for the picture and the video benchmark: the fixed:Q baseline once (`cfg.baseline`
    auto, Q the median JRD of the first of BASELINE_FROM run, else of search; added to `cfg.jrd`), then what
    `span_points` finds missing. `jrds`: each predictor's JRDs over the set; `gives_up`: whether a floor leaves
    hopeless objects unprotected (pictures; video codes them at the floor); `backgrounds`: whether finer background
    points exist (pictures). Returns what was added."""
    added = []
    if cfg.baseline == "auto" and not any(s.startswith("fixed:") for s in cfg.jrd):
        med = _median_jrd(jrds, cfg)
        if med is not None:
            cfg.jrd = cfg.jrd + (f"fixed:{med[1]}",)
            added.append(f"baseline fixed:{med[1]} (median JRD of {med[0]})")
    return added + span_points(points, cfg, jrds, gives_up, backgrounds)


def first_floors(jrds: Sequence[int]) -> list[int]:
    """The first QP floors of a curve, from its own JRDs: their quartiles (a floor codes the objects whose JRD lies
    below it at the floor and gives up those more than GIVE_UP_MARGIN below: the dearest first) and two SPAN_STEPs
    past the largest (every object coarser than its JRD). Only floors above the smallest JRD change a plan; past
    the largest JRD + GIVE_UP_MARGIN every object is given up (the GIVE_UP point)."""
    import numpy as np

    if not jrds:
        return []
    top = max(jrds)
    ladder = [*np.percentile(jrds, [25, 50, 75]), top + SPAN_STEP, top + 2 * SPAN_STEP]
    return sorted({f for f in (min(63, int(round(q))) for q in ladder) if f > min(jrds)})


def span_points(points: Sequence[CurvePoint], cfg: BenchmarkConfig,
                jrds: dict[str, list[int]] | None = None, gives_up: bool = True, backgrounds: bool = True) -> list[str]:
    """Add the RD points the measured curves still lack (the rule of docs/BDRATE.md "Points that span the anchor"):
    a JRD curve whose lowest mAP lies above the anchor's gets QP floors (`first_floors` of its JRDs `jrds[spec]`,
    then one more, higher, each round: object QP = max(JRD, floor), as `vcm encode --qp-min` writes it; and one
    halfway between two floors whose accuracies lie more than MAX_GAP of the anchor's range apart, the offset-0
    point counting as the floor at the smallest JRD), one
    whose highest lies below the anchor's a smaller offset and (`backgrounds`: pictures) finer background QPs at
    offset 0 (45, 39, 33, then 6 lower each round, down to the anchor's finest QP), and when a JRD curve reaches below the anchor's
    coarsest point the anchor gets QP +5. Returns what was added (empty: done)."""
    from vcm.metrics.rd import ANCHOR, finer_background, top_margin

    jrds = jrds or {}
    # the last floor: pictures GIVE_UP (every object given up: the background alone, the coarsest file); video 63
    # (its segments without a protected object are coded at the background QP, finer than objects at 63)
    last = GIVE_UP if gives_up else MAX_QP
    by_curve: dict[str, list[CurvePoint]] = {}
    for p in points:
        by_curve.setdefault(p.curve, []).append(p)
    anchor = by_curve.get(ANCHOR)
    if not anchor:
        return []
    added: list[str] = []
    want: dict[str, set[int]] = {}
    want_floors: dict[str, set[int]] = {}
    want_bgs: dict[str, set[int]] = {}
    below_anchor = False
    for quality in ("map50", "map"):  # mAP@0.5 and mAP@0.5:0.95: both headlines must span
        a_lo, a_hi = min(getattr(p, quality) for p in anchor), max(getattr(p, quality) for p in anchor)
        eps = top_margin(a_lo, a_hi)
        for curve, ps in by_curve.items():
            if curve == ANCHOR or ps[0].offset is None:
                continue
            pred = curve.split("/", 1)[1]
            offs, floors = cfg.offsets_for(pred), cfg.floors_for(pred)
            plan_ps = [p for p in ps if not finer_background(p)]
            lo, hi = min(getattr(p, quality) for p in ps), max(getattr(p, quality) for p in ps)
            if lo > a_lo + eps:  # coarser: floors, not offsets (an offset above 0 loses every object at once)
                if not floors:
                    want_floors.setdefault(pred, set()).update(first_floors(jrds.get(pred, [])))
                elif max(floors) < last:
                    nxt = max(floors) + 2 * SPAN_STEP
                    if gives_up and jrds.get(pred) and nxt > max(jrds[pred]) + GIVE_UP_MARGIN:  # gives up all
                        nxt = GIVE_UP
                    want_floors.setdefault(pred, set()).add(min(last, nxt))
            # no gap wider than MAX_GAP of the anchor's range between neighbouring floors (the fit would draw a
            # straight line across it): a floor halfway between
            ladder = sorted((p.qp_min, getattr(p, quality)) for p in ps if p.qp_min is not None)
            if jrds.get(pred):  # the offset-0 point is the floor at the smallest JRD: the ladder's first rung
                ladder = sorted(ladder + [(min(jrds[pred]), getattr(p, quality)) for p in plan_ps
                                          if p.qp_min is None and p.offset == 0])
            every = max(jrds[pred]) + GIVE_UP_MARGIN if gives_up and jrds.get(pred) else GIVE_UP  # past: GIVE_UP
            for (f1, m1), (f2, m2) in zip(ladder, ladder[1:]):
                if abs(m1 - m2) > MAX_GAP * (a_hi - a_lo) and f2 - f1 >= 2 and (f1 + f2) // 2 <= every:
                    want_floors.setdefault(pred, set()).add((f1 + f2) // 2)
            # finer objects only while the finest point still gains (offsets <= 0 are capped by the smallest plain
            # VVC that keeps every object, so they stop gaining there)
            finest = sorted((p for p in plan_ps if p.qp_min is None), key=lambda p: p.offset)
            gains = len(finest) < 2 or getattr(finest[0], quality) > getattr(finest[1], quality) + 1e-9
            if hi < a_hi - eps and min(offs) > OFFSET_MIN and gains:
                want.setdefault(pred, set()).add(max(OFFSET_MIN, min(offs) - SPAN_STEP))
            # and finer backgrounds (offset 0): the coarse background caps what mAP@0.5:0.95 sees (box precision,
            # false boxes) whatever the objects' QPs; at a background below every object QP the file is plain VVC
            # at it, so the curve meets the anchor's top
            if hi < a_hi - eps and backgrounds:
                have_bgs = cfg.backgrounds_for(pred)
                nxt = ([DEFAULT_BG_QP - k * BG_STEP for k in (1, 2, 3)] if not have_bgs
                       else [min(have_bgs) - BG_STEP])
                new_bgs = {max(b, min(cfg.all_qps)) for b in nxt} - set(cfg.bg_qps)  # the last: the anchor's finest
                if new_bgs:
                    want_bgs.setdefault(pred, set()).update(new_bgs)
            below_anchor |= lo < a_lo - eps
    for wanted, extra, have, what, fmt in ((want, cfg.extra_offsets, cfg.offsets_for, "offsets", "{:+d}"),
                                           (want_floors, cfg.extra_floors, cfg.floors_for, "QP floors", "{}"),
                                           (want_bgs, cfg.extra_bgs, cfg.backgrounds_for, "background QPs", "{}")):
        for pred, values in wanted.items():
            new = sorted(set(values) - set(have(pred)))
            if new:
                extra[pred] = tuple(sorted(set(extra.get(pred, ())) | set(new)))
                added.append(f"{pred} {what} {','.join(fmt.format(v) for v in new)}")
    top = max(cfg.all_qps)
    if below_anchor and top < 62:
        cfg.extra_qps = tuple(sorted(set(cfg.extra_qps) | {min(62, top + 5)}))
        added.append(f"anchor QP {min(62, top + 5)}")
    return added


def _collect(cfg: BenchmarkConfig, keys: list[str], outcomes: dict[str, PictureOutcome]) -> BenchmarkNumbers:
    """points.csv and detections.json of what the runs so far produced, and their numbers."""
    rows = [r.row for k in keys for r in outcomes[k].results]
    write_points_csv(cfg.out / "points.csv", rows)
    write_json_atomic(cfg.out / "detections.json", {"format": "vcm-benchmark-detections/1", "pictures": {
        k: {"width": outcomes[k].width, "height": outcomes[k].height, "original": outcomes[k].original,
            "dont_care": outcomes[k].dont_care,
            "jrd": outcomes[k].jrds,
            "points": {f"{r.row.curve}/{r.row.point}": r.detections for r in outcomes[k].results}} for k in keys}})
    return summarize(cfg.out, cfg.gt)


def _trained_on(cfg: BenchmarkConfig, keys: Sequence[str], echo) -> list[str]:
    """The set's pictures the shipped dtjrd learned from (`vcm.photos.trained_on`), with a warning line: its
    curves there are not held out (issue 21's ten "untuned" photos were such pictures). A `dtjrd:CKPT` is the
    user's own and its training set unknown here, so only the bare `dtjrd` is checked."""
    if "dtjrd" not in cfg.jrd:
        return []
    from vcm.photos import trained_on

    seen = trained_on(keys)
    if seen:
        echo(f"warning: {len(seen)} of the {len(keys)} pictures (first {seen[0]}) are photos the shipped dtjrd "
             "learned from (the photo split's train part): its numbers on them are not held out "
             "(summary.json settings.dtjrd_trained_on lists them)")
    return seen


def _refuse_unreadable(pics: Sequence[Path], echo) -> dict[str, str]:
    """Pictures whose header already says they cannot be coded (a decompression bomb, a FIFO): each fails alone,
    with its one-line reason, and the run goes on over the others."""
    from vcm.media import check_input_file, check_picture_header

    failed = {}
    for p in pics:
        try:
            check_input_file(p)
            check_picture_header(p)
        except VcmError as e:
            failed[str(p)] = str(e)
            echo(f"skipped {p}: {e}")
    return failed


def run_benchmark(cfg: BenchmarkConfig, echo=print) -> BenchmarkReport:
    """Run (or resume) the benchmark and write points.csv, curves.csv, detections.json, summary.json, report.md
    and rd.png into cfg.out. Returns the report (summary.json is its `to_json()`).

    The set is run in rounds: the first codes the given points; later rounds (`cfg.span`) add the fixed:Q
    baseline (`cfg.baseline`) and the points `span_points` finds missing, each round resuming the earlier ones."""
    from vcm.runner import check_executor

    check_executor(cfg.executor, cfg.ray_address)  # a bad --executor/--ray-address: before anything is written
    pics = list_pictures(cfg.data, cfg.limit)
    failed = _refuse_unreadable(pics, echo)
    pics = [p for p in pics if str(p) not in failed]
    if not pics:
        raise VcmError("no picture of the set can be coded", path=cfg.data, fix="; ".join(failed.values())[:300])
    base = cfg.data if cfg.data.is_dir() else cfg.data.parent
    keys = [str(p.relative_to(base)) for p in pics]
    if cfg.gt is not None:
        from vcm.media import check_input_file

        check_input_file(cfg.gt)
        ground_truth(cfg.gt, dict.fromkeys(keys))  # every picture has ground truth: refuse before coding any
    t0 = time.perf_counter()
    _init_worker(cfg)  # fail early on a bad detector/encoder, in this process, with a one-line error
    jrd_run = any(m in JRD_MODES for m in cfg.modes)
    for spec in cfg.jrd if jrd_run else ():
        _predictor(spec)  # same for a bad predictor spec or checkpoint
    trained = _trained_on(cfg, keys, echo) if jrd_run else []
    cfg.out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(cfg.out / WORK)  # what a killed run's atomic writes left
    outcomes: dict[str, PictureOutcome] = {}
    rounds: list[dict[str, Any]] = []
    counts = {"points_computed": 0, "fresh_encodes": 0}

    def done(task, outcome: PictureOutcome) -> str:
        outcomes[outcome.picture] = outcome
        counts["points_computed"] += sum(not r.resumed for r in outcome.results)
        counts["fresh_encodes"] += sum(r.fresh_encodes for r in outcome.results)
        return outcome.picture

    added: list[str] = ["the given points"]
    for rnd in range(1, MAX_ROUNDS + 1):
        outcomes.clear()
        run_tasks(_picture_task, list(zip(map(str, pics), keys)), workers=cfg.workers, executor=cfg.executor,
                  ray_address=cfg.ray_address, initargs=(cfg,), done=done,
                  initializer=_init_worker if cfg.workers > 1 or cfg.executor == "ray" else None,
                  progress=cfg.progress, unit="picture", what=f"pictures (round {rnd}: {'; '.join(added)})",
                  resume_hint=f"finished points are kept in {cfg.out / WORK}; run the same command again")
        numbers = _collect(cfg, keys, outcomes)
        rounds.append({"round": rnd, "added": added})
        if not (jrd_run and cfg.span) or rnd == MAX_ROUNDS:
            break
        jrds = {spec: [j for o in outcomes.values() for j in o.jrds.get(spec, []) if j is not None] for spec in cfg.jrd}
        added = next_points(numbers.points, cfg, jrds)
        for spec in cfg.jrd:
            _predictor(spec)  # the baseline's, built (and checked) here
        if not added:
            break
    det = _STATE["detector"]
    preds = {s: _predictor(s).describe() for s in cfg.jrd} if jrd_run else {}
    results = [r for o in outcomes.values() for r in o.results]
    report = BenchmarkReport(
        {k: numbers.bd[k] for k in SUMMARY_BD}, len(pics), keys,
        {**cfg.to_json(), "detector": det.spec, "ground_truth": numbers.ground_truth,
         "rule": _STATE["rule"].to_json(), "rule_text": _STATE["rule"].describe(),
         "rate": "bpp over the set (all streams + placement)",
         "accuracy": "COCO mAP over all pictures at each point", "rounds": rounds,
         **({"dtjrd_trained_on": trained} if trained else {})},
        _versions(_STATE["encoder"], det.describe(), preds, _STATE["anchor"]), _machine(),
        cfg.command or cfg.command_line(),
        {"points_computed": counts["points_computed"], "points_resumed": len(results) - counts["points_computed"],
         "fresh_encodes": counts["fresh_encodes"], "rounds": len(rounds), "seconds": round(time.perf_counter() - t0, 2),
         "failed": failed},
        numbers.points, subsets=numbers.subsets)
    write_report(cfg.out, report, title=f"{len(pics)} pictures, {det.spec}, preset {cfg.preset}"
                 + (f", anchor {cfg.anchor_encoder}" if cfg.anchor_encoder else ""))
    return report


def write_report(out: Path, report: BenchmarkReport, title: str) -> None:
    """curves.csv, rd.png (with the fits the BD numbers integrate), summary.json and report.md of a report."""
    summary = report.to_json()
    write_curves_csv(out / "curves.csv", report.points)
    plot_rd(out / "rd.png", report.points, title=title, summary=summary)
    write_summary_json(out / "summary.json", summary)
    write_report_md(out / "report.md", summary, report.points)


def format_summary(report: BenchmarkReport) -> list[str]:
    """The printed summary: the run's counts, then one line per curve ending the output."""
    run = report.run
    head = [f"{report.pictures} pictures, {run.get('points_computed', 0)} points coded, "
            f"{run.get('points_resumed', 0)} resumed, {run.get('fresh_encodes', 0)} fresh encodes, "
            f"{run.get('seconds', 0):.1f} s"]
    return head + summary_lines(report.to_json())
