"""Bjontegaard deltas between two rate-quality curves, with the rules that make them publishable.

The deltas themselves (BD-rate and BD-quality by pchip, the JVET CTC choice, or akima) come from the
`bjontegaard` package (FAU; it matches the JVET CTC sheet). vcm adds only what that package does not do:

- the monotone fit of an accuracy curve before the delta (vcm.metrics.curvefit: MPEG VCM's constrained cubic,
  isotonic pooling, or none); the package needs quality to rise with rate and would fail or mislead otherwise;
- the rules: fewer than 4 points after the fit on either curve, or curves sharing less than 75 % of their
  range (quality range for BD-rate, log-rate range for BD-quality), give no number (`value=None`) and the
  reason; the package only warns on overlap, and never counts points;
- one typed result (`BDResult`) whose one-line `format()` always carries the point counts and warnings;
- the bit saving at equal accuracy (the DT-JRD paper's figure), which works with a single test point;
- reading RD CSVs with line numbers, so a bad curve is an error naming the file and the line.
"""
from __future__ import annotations

import csv
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vcm.errors import VcmError
from vcm.metrics.curvefit import FITS, CurveFit, fit_curve
from vcm.settings import DEFAULT_FIT  # one default fit for bdrate, benchmark and the API (docs/BDRATE.md)

METHODS = ("pchip", "akima")
MIN_POINTS = 4
MIN_OVERLAP = 0.75


class BDOverlapWarning(UserWarning):
    """Kept for callers that filter it; overlap below the minimum now gives n/a instead of a warning."""


@dataclass(frozen=True)
class BDResult:
    """BD-rate (percent, negative = the test needs fewer bits) and BD-quality of a test curve vs an anchor."""

    value: float | None  # BD-rate in percent; None: n/a, see `reason`
    reason: str | None
    method: str  # pchip or akima
    fit: str  # cubic, isotonic or none
    anchor_points: int
    test_points: int
    anchor_points_after_fit: int
    test_points_after_fit: int
    overlap: float | None  # shared fraction of the curves' quality range (BD-rate)
    warnings: tuple[str, ...] = ()
    bd_quality: float | None = None  # mean quality gain at equal rate (mAP units for mAP, dB for PSNR)
    bd_quality_reason: str | None = None
    rate_overlap: float | None = None  # shared fraction of the log-rate range (BD-quality)
    notes: tuple[str, ...] = ()  # what the fits changed, point by point
    anchor_fit: CurveFit | None = field(default=None, repr=False)
    test_fit: CurveFit | None = field(default=None, repr=False)
    quality_name: str = "quality"

    @property
    def ok(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("anchor_fit", "test_fit")}
        d["warnings"], d["notes"] = list(self.warnings), list(self.notes)
        d["anchor_fit"] = self.anchor_fit.to_json() if self.anchor_fit else None
        d["test_fit"] = self.test_fit.to_json() if self.test_fit else None
        return d

    def counts(self) -> str:
        ov = "n/a" if self.overlap is None else share_text(self.overlap)
        return (f"points anchor {self.anchor_points}->{self.anchor_points_after_fit}, test {self.test_points}->"
                f"{self.test_points_after_fit} ({self.fit} fit), overlap {ov}")

    def format(self) -> str:
        """One line: the BD-rate or `n/a (<reason>)`, the BD-quality, the point counts and every warning."""
        rate = f"{self.value:+.2f}%" if self.value is not None else f"n/a ({self.reason})"
        q = (f"{self.bd_quality:+.4f}" if self.bd_quality is not None else f"n/a ({self.bd_quality_reason})")
        line = f"BD-rate ({self.method}) {rate}; BD-{self.quality_name} {q}; {self.counts()}"
        if self.warnings:
            line += "; warning: " + "; ".join(self.warnings)
        return line


def _as_arrays(points: Any) -> tuple[np.ndarray, np.ndarray]:
    """A curve as (rates, qualities): a list of points with `rate` and `quality` (vcm.metrics.rd.RDPoint,
    CurvePoint), a (rates, qualities) pair, or (rate, quality) tuples."""
    if isinstance(points, tuple) and len(points) == 2 and np.ndim(points[0]) == 1:
        return np.asarray(points[0], float), np.asarray(points[1], float)
    pts = list(points)
    if pts and hasattr(pts[0], "rate") and hasattr(pts[0], "quality"):
        return np.array([p.rate for p in pts], float), np.array([p.quality for p in pts], float)
    arr = np.asarray(pts, float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _check_values(rate: np.ndarray, quality: np.ndarray, name: str) -> None:
    if len(rate) != len(quality):
        raise VcmError(f"{name} curve has {len(rate)} rates but {len(quality)} qualities", fix="pair every rate")
    if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(quality))):
        raise VcmError(f"{name} curve has a non-finite rate or quality", fix="remove NaN/inf points")
    if np.any(rate <= 0):
        raise VcmError(f"{name} curve has a rate <= 0", fix="rates must be positive (bits, bpp or kbps)")


def share_text(value: float, need: float = MIN_OVERLAP) -> str:
    """An overlap as a percentage, with one decimal where whole per cent would hide which side of the rule it is
    on (74.8 % is not 75 %)."""
    for digits in range(4):
        if (value < need) == (round(value * 100, digits) < round(need * 100, digits)) or digits == 3:
            return f"{value:.{digits}%}"


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    union = max(a.max(), b.max()) - min(a.min(), b.min())
    return float(max(hi - lo, 0.0) / union) if union > 0 else 0.0


def _delta(fn, xa, ya, xt, yt, method: str) -> float:
    """One `bjontegaard` call; its own overlap warning is silenced (the rules above already decided)."""
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(getattr(bjontegaard, fn)(xa, ya, xt, yt, method=method, require_matching_points=False,
                                              min_overlap=0))


def bd_compare(anchor_points: Any, test_points: Any, *, method: str = "pchip", monotone: str = DEFAULT_FIT,
               min_points: int = MIN_POINTS, min_overlap: float = MIN_OVERLAP, quality_name: str = "quality",
               bounds: tuple[float, float] | None | str = "auto") -> BDResult:
    """BD-rate and BD-quality of `test_points` against `anchor_points` after the `monotone` fit of each curve.

    A curve the rules reject gives `value=None` and the reason, never a number. Input errors (NaN, rate <= 0,
    an unknown method or fit) raise VcmError."""
    if method not in METHODS:
        raise VcmError(f"unknown interpolation method {method!r}", fix=f"use one of {', '.join(METHODS)}")
    if monotone == "fit":  # the earlier name of the isotonic fit (pipelines/benchmark.py)
        monotone = "isotonic"
    if monotone not in FITS:
        raise VcmError(f"unknown monotone fit {monotone!r}", fix=f"use one of {', '.join(FITS)}")
    ra, qa = _as_arrays(anchor_points)
    rt, qt = _as_arrays(test_points)
    _check_values(ra, qa, "anchor")
    _check_values(rt, qt, "test")
    a, t = fit_curve(ra, qa, monotone, bounds), fit_curve(rt, qt, monotone, bounds)
    warns, reason, qreason = [], None, None
    for name, c in (("anchor", a), ("test", t)):
        if c.applied and any(c.replaced):
            change = ""
            if c.coefficients is not None:
                change = f" (by up to {np.max(np.abs(c.model(np.array(c.rate)) - np.array(c.quality))):.3g})"
            warns.append(f"{name}: the {monotone} fit replaced {sum(c.replaced)} of {c.points} measured values"
                         + change)
        if c.problem:
            reason = reason or f"{name} curve {c.problem}"
        elif c.points_after_fit < min_points:
            after = " after the fit" if c.applied else ""
            reason = reason or f"{name} curve has {c.points_after_fit} points{after}; {min_points} are needed"
    notes = tuple(f"anchor: {n}" for n in a.notes) + tuple(f"test: {n}" for n in t.notes)
    faq, fat = np.array(a.fitted_quality), np.array(t.fitted_quality)
    far, fart = np.log10(a.fitted_rate), np.log10(t.fitted_rate)
    overlap = rate_overlap = None
    if not (a.problem or t.problem):
        overlap, rate_overlap = _overlap(faq, fat), _overlap(far, fart)
    qreason = reason
    value = bdq = None
    if reason is None:
        if overlap < min_overlap:
            reason = (f"the curves share {share_text(overlap, min_overlap)} of their quality range; "
                      f"{min_overlap:.0%} is needed")
        else:
            avg = _delta("bd_linear", faq, far, fat, fart, method)
            value = float((10 ** avg - 1) * 100)
        if rate_overlap < min_overlap:
            qreason = (f"the curves share {share_text(rate_overlap, min_overlap)} of their log-rate range; "
                       f"{min_overlap:.0%} is needed")
        else:
            bdq = _delta("bd_linear", far, faq, fart, fat, method)
    return BDResult(value, reason, method, monotone, a.points, t.points, a.points_after_fit, t.points_after_fit,
                    overlap, tuple(warns), bdq, qreason, rate_overlap, notes, a, t, quality_name)


def bd_compare_methods(anchor_points: Any, test_points: Any, **kw) -> dict[str, BDResult]:
    """`bd_compare` by pchip and by akima (what the CLI and the reports print side by side)."""
    return {m: bd_compare(anchor_points, test_points, method=m, **kw) for m in METHODS}


def interpolated_curve(fit: CurveFit | tuple[Any, Any], method: str = "pchip",
                       n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The curve the BD-rate integrates, as (rates, qualities) for a plot: log10(rate) interpolated as a
    function of quality through the fitted points (a CurveFit or its (rates, qualities)), sampled over the
    fitted quality range."""
    from bjontegaard.interpolation import interpolate

    r, q = (fit.fitted_rate, fit.fitted_quality) if isinstance(fit, CurveFit) else fit
    r, q = np.asarray(r, float), np.asarray(q, float)
    if len(q) < 2:
        return r, q
    qs = np.linspace(q.min(), q.max(), n)
    return 10 ** np.asarray(interpolate(q, np.log10(r), method)(qs), float), qs


# --- kept for the pipelines' current calls (pipelines/benchmark.py, video.py); see the report to the lead ---
def bd_rate(anchor: Any, test: Any, method: str = "pchip", *, monotone: str = DEFAULT_FIT,
            min_overlap: float = MIN_OVERLAP) -> float:
    """BD-rate in percent, or VcmError with the reason when the rules give n/a."""
    r = bd_compare(anchor, test, method=method, monotone=monotone, min_overlap=min_overlap)
    if r.value is None:
        raise VcmError(f"BD-rate ({method}): n/a: {r.reason}", fix="measure more points over a common range")
    return r.value


def bd_quality(anchor: Any, test: Any, method: str = "pchip", *, monotone: str = DEFAULT_FIT,
               min_overlap: float = MIN_OVERLAP) -> float:
    """BD-quality at equal rate, or VcmError with the reason when the rules give n/a."""
    r = bd_compare(anchor, test, method=method, monotone=monotone, min_overlap=min_overlap)
    if r.bd_quality is None:
        raise VcmError(f"BD-quality ({method}): n/a: {r.bd_quality_reason}",
                       fix="measure more points over a common range")
    return r.bd_quality


@dataclass(frozen=True)
class EqualQualitySaving:
    """Bit saving of each test point against the anchor interpolated at the test point's quality."""

    mean_percent: float  # positive: the test needs fewer bits; NaN if no test point is inside the anchor range
    points: tuple[dict[str, float], ...]  # rate, quality, anchor_rate, saving_percent
    n_outside: int  # test points outside the anchor's quality range (not counted)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean_percent"] = None if math.isnan(self.mean_percent) else self.mean_percent
        return d


def saving_at_equal_quality(anchor: Any, test: Any, method: str = "pchip", *,
                            monotone: str = DEFAULT_FIT) -> EqualQualitySaving:
    """Mean of 1 - R_test / R_anchor(q_test) (percent) over test points inside the anchor's (fitted) quality
    range. The test may have a single point (one operating point of a method)."""
    ra, qa = _as_arrays(anchor)
    rt, qt = _as_arrays(test)
    _check_values(ra, qa, "anchor")
    _check_values(rt, qt, "test")
    a = fit_curve(ra, qa, "isotonic" if monotone == "fit" else monotone)
    if a.problem or a.points_after_fit < 2:
        raise VcmError(f"anchor curve: {a.problem or 'fewer than 2 points after the fit'}",
                       fix="measure more anchor points or use a monotone fit")
    from bjontegaard.interpolation import interpolate

    f = interpolate(np.asarray(a.fitted_quality), np.log10(a.fitted_rate), method)
    lo, hi = min(a.fitted_quality), max(a.fitted_quality)
    pts, outside = [], 0
    for r, q in sorted(zip(rt.tolist(), qt.tolist())):
        if q < lo or q > hi:
            outside += 1
            continue
        ar = float(10 ** f(q))
        pts.append({"rate": r, "quality": q, "anchor_rate": ar, "saving_percent": (1 - r / ar) * 100})
    mean = float(np.mean([p["saving_percent"] for p in pts])) if pts else float("nan")
    return EqualQualitySaving(mean, tuple(pts), outside)


@dataclass
class BDReport:
    """The earlier `compare()` result, built from `bd_compare` (pipelines/benchmark.py reads it)."""

    method: str
    monotone: str
    bd_rate_percent: float = float("nan")
    bd_quality: float = float("nan")
    saving: EqualQualitySaving | None = None
    quality_overlap: float = float("nan")
    rate_overlap: float = float("nan")
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    result: BDResult | None = None


def compare(anchor: Any, test: Any, method: str = "pchip", *, monotone: str = DEFAULT_FIT,
            min_overlap: float = MIN_OVERLAP) -> BDReport:
    """`bd_compare` plus the equal-accuracy saving, in the earlier BDReport shape."""
    r = bd_compare(anchor, test, method=method, monotone=monotone, min_overlap=min_overlap)
    nan = float("nan")
    rep = BDReport(method, r.fit, r.value if r.value is not None else nan,
                   r.bd_quality if r.bd_quality is not None else nan, None,
                   r.overlap if r.overlap is not None else nan, r.rate_overlap if r.rate_overlap is not None else nan,
                   list(r.notes), list(r.warnings), {}, r)
    if r.value is None:
        rep.errors["bd_rate"] = r.reason
    if r.bd_quality is None:
        rep.errors["bd_quality"] = r.bd_quality_reason
    try:
        rep.saving = saving_at_equal_quality(anchor, test, method, monotone=r.fit)
    except VcmError as e:
        rep.errors["saving"] = str(e)
    return rep


# --- RD CSVs ------------------------------------------------------------------------------------------
RATE_COLUMNS = ("rate", "bpp", "kbps", "bits", "bytes")
QUALITY_COLUMNS = ("quality", "map50", "map", "map50_95", "psnr")  # mAP@0.5, mAP@0.5:0.95 (`map`), ...


@dataclass(frozen=True)
class RDTable:
    """An RD CSV: one rate column and one or more quality columns, with the file line of every point."""

    path: Path
    rate_column: str
    rates: tuple[float, ...]
    qualities: dict[str, tuple[float, ...]]  # column -> values, in file order
    lines: tuple[int, ...]  # file line of each point (1 = the header)
    curves: tuple[str, ...] | None = None  # the `curve` column (`vcm benchmark`'s curves.csv), if there is one
    bd: tuple[frozenset, ...] | None = None  # the `bd` column of curves.csv: the qualities each point counts for

    def rows(self, column: str) -> list[int]:
        """The rows a BD number at `column` uses: all, or (a `bd` column) those it names `column` in."""
        return [i for i in range(len(self.rates)) if self.bd is None or column in self.bd[i]]

    def curve(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        keep = self.rows(column)
        return np.array([self.rates[i] for i in keep]), np.array([self.qualities[column][i] for i in keep])

    def curve_names(self) -> list[str]:
        return list(dict.fromkeys(self.curves or ()))

    def select(self, name: str) -> "RDTable":
        """The rows of one curve: its full name (objects/prior) or, when that is unique, its mode (plain)."""
        names = self.curve_names()
        if not names:
            raise VcmError(f"--curve {name}: the CSV has no `curve` column", path=self.path,
                           fix="drop --curve, or give a curves.csv of `vcm benchmark`")
        match = [n for n in names if n == name] or [n for n in names if n.split("/", 1)[0] == name]
        if len(match) != 1:
            what = "matches several curves" if match else "is not a curve of this file"
            raise VcmError(f"{name!r} {what}; it holds {', '.join(names)}", path=self.path,
                           fix="pick one of them with --curve (anchor: --anchor-curve)")
        keep = [i for i, c in enumerate(self.curves) if c == match[0]]
        return RDTable(self.path, self.rate_column, tuple(self.rates[i] for i in keep),
                       {c: tuple(v[i] for i in keep) for c, v in self.qualities.items()},
                       tuple(self.lines[i] for i in keep), tuple(self.curves[i] for i in keep),
                       None if self.bd is None else tuple(self.bd[i] for i in keep))


def read_rd_table(path: str | Path) -> RDTable:
    """A CSV whose header names a rate column (rate, bpp, kbps, bits, bytes) and quality columns (quality,
    map50, map = mAP@0.5:0.95, map50_95, psnr); other columns are ignored. Bad cells name file and line."""
    p = Path(path)
    fix = "give a CSV with the header rate,quality (or bpp,map50,map) and one numeric row per point"
    if not p.is_file():
        raise VcmError("no such file", path=p, fix="check the path")
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:  # a spreadsheet's byte-order mark is no column
            rows = [(n, r) for n, r in enumerate(csv.reader(fh), start=1) if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise VcmError(f"not a readable CSV ({type(e).__name__})", path=p, fix=fix) from e
    if not rows:
        raise VcmError("the CSV is empty", path=p, fix=fix)
    header = [c.strip().lower() for c in rows[0][1]]
    twice = sorted({c for c in header if c and header.count(c) > 1})
    if twice:
        raise VcmError(f"line {rows[0][0]}: the header names {', '.join(twice)} more than once ({','.join(header)})",
                       path=p, fix="give each column its own name")
    rate_col = next((c for c in RATE_COLUMNS if c in header), None)
    qcols = [c for c in QUALITY_COLUMNS if c in header]
    if rate_col is None or not qcols:
        raise VcmError(f"line {rows[0][0]}: the header needs a rate column ({'/'.join(RATE_COLUMNS)}) and a quality "
                       f"column ({'/'.join(QUALITY_COLUMNS)}); found {','.join(header)}", path=p, fix=fix)
    ri = header.index(rate_col)
    ci = header.index("curve") if "curve" in header else None
    bi = header.index("bd") if "bd" in header else None  # curves.csv: the qualities each point counts for
    rates, lines, quals, curves, bd = [], [], {c: [] for c in qcols}, [], []
    for n, row in rows[1:]:
        if len(row) != len(header):
            raise VcmError(f"line {n} has {len(row)} fields, the header has {len(header)}", path=p, fix=fix)
        try:
            vals = [float(row[ri])] + [float(row[header.index(c)]) for c in qcols]
        except ValueError:
            raise VcmError(f"line {n}: a rate or quality is not a number ({','.join(c.strip() for c in row)})",
                           path=p, fix=fix) from None
        if not all(math.isfinite(v) for v in vals):
            raise VcmError(f"line {n}: rate and quality must be finite", path=p, fix=fix)
        if vals[0] <= 0:
            raise VcmError(f"line {n}: rate {vals[0]:g} must be > 0", path=p, fix=fix)
        rates.append(vals[0])
        lines.append(n)
        if ci is not None:
            curves.append(row[ci].strip())
        if bi is not None:
            bd.append(frozenset(row[bi].split()))
        for c, v in zip(qcols, vals[1:]):
            quals[c].append(v)
    return RDTable(p, rate_col, tuple(rates), {c: tuple(v) for c, v in quals.items()}, tuple(lines),
                   tuple(curves) if ci is not None else None, tuple(bd) if bi is not None else None)


MAP_COLUMNS = {"map50": "mAP@0.5", "map": "mAP@0.5:0.95", "map50_95": "mAP@0.5:0.95"}


def read_rd_curve(path: str | Path, curve: str | None = None, default: str | None = None) -> tuple[RDTable, list[str]]:
    """One RD curve of a CSV, ready for a BD-rate, and the notes to show with it.

    A CSV with a `curve` column (`vcm benchmark`'s curves.csv) holds several curves: `curve` picks one (full name
    or unique mode), else `default`, else the file must hold only one. mAP columns are checked for units: values
    above 1 that are all <= 100 are percent and are read as fractions (with a note), larger ones are an error.
    A column named `map` without `map50` beside it is read as mAP@0.5:0.95 (COCO's "mAP"), with a note saying so.
    """
    t = read_rd_table(path)
    notes: list[str] = []
    names = t.curve_names()
    if curve or default:
        if curve or len(names) > 1:
            t = t.select(curve or default)
    elif len(names) > 1:
        raise VcmError(f"the CSV holds {len(names)} curves ({', '.join(names)})", path=t.path,
                       fix=f"pick one with --curve, e.g. --curve {names[-1]}")
    quals = dict(t.qualities)
    for col in [c for c in quals if c in MAP_COLUMNS]:
        vals = quals[col]
        top = max(vals, default=0.0)
        if top > 100 or min(vals, default=0.0) < 0:
            bad = next(i for i, v in enumerate(vals) if v > 100 or v < 0)
            raise VcmError(f"line {t.lines[bad]}: {col} {vals[bad]:g} is neither a fraction 0..1 nor a percent",
                           path=t.path, fix=f"give {MAP_COLUMNS[col]} as a fraction 0..1")
        if top > 1:
            quals[col] = tuple(v / 100 for v in vals)
            notes.append(f"{t.path}: {col} values up to {top:g} read as percent (divided by 100); mAP is a "
                         f"fraction 0..1 in vcm's files")
    if "map" in quals and "map50" not in quals:
        notes.append(f"{t.path}: column `map` read as mAP@0.5:0.95 (COCO's mAP); name it map50 if it holds "
                     f"mAP@0.5, or map50_95 to say so")
    if "map50_95" in quals and "map" not in quals:
        quals["map"] = quals.pop("map50_95")
    return RDTable(t.path, t.rate_column, t.rates, quals, t.lines, t.curves, t.bd), notes


def check_curve(table: RDTable, column: str, min_points: int = MIN_POINTS) -> None:
    """Without a fit a curve must have `min_points` points, distinct rates and quality rising with rate; the
    first violation is a VcmError naming the file and the line."""
    fix = "fix the CSV, or ask for a fit (--monotone cubic|isotonic)"
    r, q = table.curve(column)
    lines = [table.lines[k] for k in table.rows(column)]
    if len(r) < min_points:
        where = f"lines {lines[0]}-{lines[-1]}" if len(r) else "no data lines"
        raise VcmError(f"{len(r)} points ({where}); BD needs at least {min_points}", path=table.path, fix=fix)
    order = np.argsort(r, kind="stable")
    for i, j in zip(order, order[1:]):
        if r[i] == r[j]:
            raise VcmError(f"line {lines[j]}: rate {r[j]:g} repeats line {lines[i]}", path=table.path,
                           fix=fix)
        if q[j] <= q[i]:
            raise VcmError(f"line {lines[j]}: {column} {q[j]:g} at rate {r[j]:g} does not rise above "
                           f"{q[i]:g} at rate {r[i]:g} (line {lines[i]}): the curve is not monotone",
                           path=table.path, fix=fix)
