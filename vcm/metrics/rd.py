"""RD points and their aggregation: the one family of rate-quality point types, the benchmark's curves over a
picture set, and every curve's BD numbers against the anchor as JSON-ready summary entries.

The point types: `RDPoint` (a rate, a quality and the settings behind them: what `vcm bdrate` reads from a CSV),
`PointRow` (one picture coded one way: a row of points.csv) and `CurvePoint` (one point of a curve over the
whole set: a row of curves.csv; its `rate` and `quality` are bpp and mAP@0.5, so it goes wherever an RDPoint
does). Aggregation is pure arithmetic over rows plus one mAP evaluation per point; it lives here, not in the
pipelines, so the picture and the video benchmark (and `summarize`, which rebuilds summary.json from the files)
share it.

One entry per (curve, quality) carries the BD-rate by pchip and akima, the BD-mAP, the point counts before and
after the monotone fit, the overlap, warnings, a verdict (ok / unreliable) and the fitted points, so that
summary.json, report.md, rd.png and the printed lines all show the same numbers and caveats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.settings import DEFAULT_BG_QP
from vcm.metrics.bdrate import (DEFAULT_FIT, METHODS, MIN_OVERLAP, MIN_POINTS, bd_compare, read_rd_table,
                                saving_at_equal_quality)

ANCHOR = "plain/vvc"  # the curve every other curve is compared with: plain VVC at each QP
# how curves are listed (summary, curves.csv, report.md): the anchor, the picture modes, video's all-intra mode
CURVE_MODES = ("plain", "frame", "objects", "blur", "ctu", "auto", "intra")


# ------------------------------------------------------------------------------------------------ point types
@dataclass(frozen=True)
class RDPoint:
    """One rate-quality point and the settings that produced it."""

    rate: float  # bits, bpp or kbps (say which in settings["rate_unit"])
    quality: float  # mAP or PSNR
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class PointRow:
    """One row of points.csv: one picture coded in one mode, with one predictor, at one RD point."""

    picture: str  # file name inside DATA
    mode: str  # plain, frame, objects, blur
    predictor: str  # "vvc" for plain, else the predictor spec (search, prior, dtjrd:CKPT, fixed:Q)
    point: str  # the point's id within its curve: "qp37", "off-4", "off-4_bg47"
    qp: int | None  # plain: the frame QP; JRD modes: None
    offset: int | None  # JRD modes: the offset added to every object's JRD
    bg_qp: int | None  # JRD modes with a background: its QP (None: the mode's default)
    width: int
    height: int
    bytes: int  # everything the decoder needs for this picture (all streams + placement)
    bpp: float  # 8 * bytes / (width * height)
    objects: int  # detections on the original picture
    kept: int  # of those, still detected on the decoded picture (vcm.metrics.match rule)
    kept_fraction: float  # kept / objects (1.0 when there are no objects)
    encode_s: float  # encoder wall time (0 when every stream came from the cache)
    min_qp: int | None = None  # lowest QP used in the picture
    max_qp: int | None = None  # highest QP used in the picture
    bits: int | None = None  # 8 * bytes (filled in)
    chosen: str | None = None  # JRD modes: the candidate written (e.g. objects@57, blur, plain)
    qp_min: int | None = None  # JRD modes: the floor, object QP = max(JRD + offset, qp_min) (`--qp-min`); None: none

    def __post_init__(self):
        self.bits = 8 * int(self.bytes)

    @property
    def curve(self) -> str:
        return f"{self.mode}/{self.predictor}"


@dataclass
class CurvePoint:
    """One RD point of a curve over the whole picture set: bits summed, mAP from one COCO evaluation."""

    curve: str  # "<mode>/<predictor>"
    point: str
    qp: int | None
    offset: int | None
    bg_qp: int | None
    pictures: int
    bits: int  # total over the set
    pixels: int  # total over the set
    bpp: float  # bits / pixels
    map50: float  # mAP@0.5 (COCO, 101-point), over all pictures at this point
    map: float  # mAP@0.5:0.95
    kept_fraction: float  # kept / objects over the set
    encode_s: float  # summed encoder wall time
    qp_min: int | None = None  # JRD modes: the floor of the point (`vcm encode --qp-min`); None: none

    @property
    def mode(self) -> str:
        return self.curve.split("/", 1)[0]

    @property
    def predictor(self) -> str:
        return self.curve.split("/", 1)[1]

    @property
    def rate(self) -> float:
        """The rate BD numbers use: bpp over the set."""
        return self.bpp

    @property
    def quality(self) -> float:
        """The headline quality: mAP@0.5."""
        return self.map50



def read_rd_csv(path: str | Path) -> list[RDPoint]:
    """The first quality column of an RD CSV (vcm.metrics.bdrate.read_rd_table) as RDPoints, each point's file
    line in its settings."""
    t = read_rd_table(path)
    col = next(iter(t.qualities))
    return [RDPoint(r, q, {"line": n}) for r, q, n in zip(t.rates, t.qualities[col], t.lines)]


# ------------------------------------------------------------------------------------------------ aggregation
def curve_order(curve: str) -> tuple:
    """Sort key of a curve name: the anchor first, then the modes in CURVE_MODES order, then the predictor."""
    mode, pred = curve.split("/", 1)
    return (CURVE_MODES.index(mode) if mode in CURVE_MODES else len(CURVE_MODES), pred)


def sort_points(points: Sequence[CurvePoint]) -> list[CurvePoint]:
    """Points by curve (curve_order), then QP, offset, floor and background QP: the order of every report file."""
    return sorted(points, key=lambda p: (curve_order(p.curve), p.qp if p.qp is not None else -1,
                                         p.offset if p.offset is not None else 0, p.qp_min or 0, p.bg_qp or 0))


def rows_by_point(rows: Sequence[PointRow]) -> dict[tuple[str, str], list[PointRow]]:
    """points.csv rows grouped by RD point (curve, point id), in first-seen order."""
    groups: dict[tuple[str, str], list[PointRow]] = {}
    for r in rows:
        groups.setdefault((r.curve, r.point), []).append(r)
    return groups


def curve_point(rows: Sequence[PointRow], m: Any, pictures: int, pixels: int | None = None) -> CurvePoint:
    """The RD point of a group of rows (one curve, one point id): bits summed, kept fraction over all their
    objects, encode time summed; `m` is the point's mAP over the set (vcm.metrics.map.MapResult), `pixels` the
    set's pixels (default: one picture per row)."""
    r0 = rows[0]
    bits = sum(r.bits for r in rows)
    pixels = sum(r.width * r.height for r in rows) if pixels is None else pixels
    objects = sum(r.objects for r in rows)
    return CurvePoint(r0.curve, r0.point, r0.qp, r0.offset, r0.bg_qp, pictures, bits, pixels, bits / pixels,
                      m.map50, m.map50_95, sum(r.kept for r in rows) / objects if objects else 1.0,
                      round(sum(r.encode_s for r in rows), 4), r0.qp_min)


def aggregate(rows: Sequence[PointRow], pictures: dict[str, dict[str, Any]], gt: dict[str, Any]) -> list[CurvePoint]:
    """The RD points of every curve over a picture set: bits and pixels summed, mAP from one COCO evaluation
    over all pictures' decoded detections at that point (`pictures`: detections.json's, `gt`: COCO)."""
    from vcm.metrics.map import evaluate_map
    from vcm.types import Detection, Detections

    out = []
    for (curve, pid), rs in rows_by_point(rows).items():
        keys = sorted(r.picture for r in rs)
        if set(keys) != set(pictures):
            raise VcmError(f"point {curve} {pid} covers {len(keys)} of {len(pictures)} pictures",
                           fix="rerun `vcm benchmark` to finish the missing pictures")
        preds = [(k, Detections(pictures[k]["width"], pictures[k]["height"],
                                tuple(Detection.from_json(d) for d in pictures[k]["points"][f"{curve}/{pid}"])))
                 for k in keys]
        out.append(curve_point(rs, evaluate_map(gt, preds, match="name"), len(rs)))
    return sort_points(out)


# ------------------------------------------------------------------------------------------------ BD entries
MAX_METHOD_SPREAD = 5.0  # percentage points between pchip and akima above which a BD-rate is called unreliable
QUALITY_NAMES = {"map50": "mAP@0.5", "map": "mAP@0.5:0.95", "kept_fraction": "kept fraction"}


def verdict(values: dict[str, float | None], reason: str | None) -> str:
    """ok when both interpolations give a number and agree within MAX_METHOD_SPREAD points."""
    if any(v is None for v in values.values()):
        return f"unreliable: {reason}" if reason else "unreliable"
    spread = max(values.values()) - min(values.values())
    if spread > MAX_METHOD_SPREAD:
        return f"unreliable: pchip and akima differ by {spread:.1f} points"
    return "ok"


def bd_entry(anchor: tuple[Sequence[float], Sequence[float]], test: tuple[Sequence[float], Sequence[float]], *,
             monotone: str = DEFAULT_FIT, quality: str = "map50", min_points: int = MIN_POINTS,
             min_overlap: float = MIN_OVERLAP) -> dict[str, Any]:
    """One summary.json entry: BD-rate (pchip, akima), BD-mAP, counts, overlap, warnings, verdict, fits.

    `anchor` and `test` are (rates, qualities); duplicate rates are merged by the fit (noted)."""
    try:
        res = {m: bd_compare(anchor, test, method=m, monotone=monotone, min_points=min_points,
                             min_overlap=min_overlap, quality_name="mAP" if quality.startswith("map") else quality)
               for m in METHODS}
    except VcmError as e:  # a curve with NaN quality (no objects) or a zero rate: no number, the reason
        return {"pchip": None, "akima": None, "bd_quality": {m: None for m in METHODS}, "quality": quality,
                "error": str(e), "bd_quality_error": str(e), "fit": monotone, "points": len(test[0]),
                "points_used": None, "overlap": None, "rate_overlap": None, "warnings": [], "notes": [],
                "verdict": f"unreliable: {e}", "line": f"BD-rate n/a ({e})", "anchor_fit": None, "test_fit": None}
    p = res["pchip"]
    entry: dict[str, Any] = {m: r.value for m, r in res.items()}
    entry["bd_quality"] = {m: r.bd_quality for m, r in res.items()}
    entry["quality"] = quality
    entry["error"] = p.reason
    entry["bd_quality_error"] = p.bd_quality_reason
    entry["fit"] = p.fit
    entry["points"] = p.test_points  # the earlier key: the test curve's measured points
    entry["points_used"] = {"anchor": p.anchor_points, "anchor_after_fit": p.anchor_points_after_fit,
                            "test": p.test_points, "test_after_fit": p.test_points_after_fit}
    entry["overlap"] = p.overlap
    entry["rate_overlap"] = p.rate_overlap
    entry["warnings"] = list(p.warnings)
    entry["notes"] = list(p.notes)
    entry["verdict"] = verdict({m: r.value for m, r in res.items()}, p.reason)
    head = (f"BD-rate n/a ({p.reason})" if p.reason else
            f"BD-rate {_pct(entry['pchip'])} (pchip) / {_pct(entry['akima'])} (akima) [{entry['verdict']}]")
    entry["line"] = "; ".join([head, p.counts()] + [f"warning: {w}" for w in p.warnings])
    entry["anchor_fit"] = p.anchor_fit.to_json() if p.anchor_fit else None
    entry["test_fit"] = p.test_fit.to_json() if p.test_fit else None
    return entry


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def compare_curves(curves: dict[str, tuple[Sequence[float], Sequence[float]]], anchor: str, *,
                   monotone: str = DEFAULT_FIT, quality: str = "map50") -> dict[str, dict[str, Any]]:
    """`bd_entry` of every curve but the anchor; `curves` maps a curve name to (rates, qualities)."""
    if anchor not in curves:
        raise VcmError(f"no {anchor} points to compare with", fix="run with the anchor's mode (e.g. --modes plain,...)")
    return {name: bd_entry(curves[anchor], c, monotone=monotone, quality=quality)
            for name, c in curves.items() if name != anchor}


def saving_entry(anchor: tuple[Sequence[float], Sequence[float]], test: tuple[Sequence[float], Sequence[float]], *,
                 monotone: str = DEFAULT_FIT) -> dict[str, Any]:
    """summary.json's saving_at_equal_map entry (pchip), with the reason when there is none."""
    try:
        s = saving_at_equal_quality(anchor, test, "pchip", monotone=monotone).to_json()
    except VcmError as e:
        return {"saving_percent": None, "points": [], "n_outside": len(test[0]), "method": "pchip", "error": str(e)}
    return {"saving_percent": s["mean_percent"], "points": s["points"], "n_outside": s["n_outside"],
            "method": "pchip", "fit": monotone}


def curves_from_points(points: Sequence[Any], quality: str = "map50") -> dict[str, tuple[list[float], list[float]]]:
    """CurvePoint-like objects (curve, bpp, map50, map, kept_fraction) grouped into (bpp, quality) curves."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for p in sorted(points, key=lambda p: p.bpp):
        r, q = out.setdefault(p.curve, ([], []))
        r.append(float(p.bpp))
        q.append(float(getattr(p, quality)))
    return out


BD_QUALITIES = ("map50", "map", "kept_fraction")  # the qualities a benchmark gives BD numbers for


def top_margin(lo: float, hi: float) -> float:
    """How far below the anchor's best accuracy (its range lo..hi) a curve's best may stop and still reach it."""
    return max(0.01, 0.05 * (hi - lo))


def finer_background(p: Any) -> bool:
    """A JRD point at a background finer than the default ones (`vcm encode --bg-qp` below DEFAULT_BG_QP)."""
    return getattr(p, "offset", None) is not None and p.bg_qp is not None and int(p.bg_qp) < DEFAULT_BG_QP


def needed_points(points: Sequence[Any], quality: str, anchor: str = ANCHOR) -> list[Any]:
    """The points the BD numbers at `quality` use: all of them, except a curve's finer-background points where its
    other points already reach the anchor's best accuracy (`top_margin`), and those past the first that reaches it.
    They lift a curve to the anchor's top (mAP@0.5:0.95 under a coarse background); where not needed they only add
    a long flat tail that bends the global cubic fit (on the default set the oracle's mAP@0.5 overlap fell from 78 %
    to 50 % with them)."""
    a = [float(getattr(p, quality)) for p in points if p.curve == anchor]
    if not a:
        return list(points)
    margin = top_margin(min(a), max(a))
    by_curve: dict[str, list[Any]] = {}
    for p in points:
        by_curve.setdefault(p.curve, []).append(p)
    out: list[Any] = []
    for curve, ps in by_curve.items():
        base = [p for p in ps if not finer_background(p)]
        finer = sorted((p for p in ps if finer_background(p)), key=lambda p: p.bpp)
        if curve == anchor or not base or not finer:
            out += ps
            continue
        out += base
        if max(float(getattr(p, quality)) for p in base) >= max(a) - margin:
            continue
        for p in finer:
            out.append(p)
            if float(getattr(p, quality)) >= max(a) - margin:
                break
    return out


def benchmark_bd(points: Sequence[Any], anchor: str = ANCHOR, *, monotone: str = DEFAULT_FIT) -> dict[str, Any]:
    """All BD numbers of a benchmark summary: bd_rate (mAP@0.5), bd_rate_map (mAP@0.5:0.95), bd_rate_kept
    (kept fraction) and saving_at_equal_map, each keyed by curve; each from the points it needs (`needed_points`)."""
    out: dict[str, Any] = {"bd_fit": monotone}
    for key, q in zip(("bd_rate", "bd_rate_map", "bd_rate_kept"), BD_QUALITIES):
        out[key] = compare_curves(curves_from_points(needed_points(points, q, anchor), q), anchor, monotone=monotone,
                                  quality=q)
    c = curves_from_points(needed_points(points, "map50", anchor), "map50")
    out["saving_at_equal_map"] = {n: saving_entry(c[anchor], t, monotone=monotone) for n, t in c.items()
                                  if n != anchor}
    return out


def fitted_points(entry: dict[str, Any], which: str = "test") -> tuple[np.ndarray, np.ndarray] | None:
    """The fitted (rate, quality) points of one summary entry, for a plot."""
    fit = entry.get(f"{which}_fit")
    if not fit or not fit.get("fitted"):
        return None
    arr = np.asarray(fit["fitted"], float)
    return arr[:, 0], arr[:, 1]
