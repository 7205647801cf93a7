"""Bjontegaard deltas between two rate-quality curves, and the bit saving at equal accuracy.

BD-rate (VCEG-M33, as in the JVET CTC sheet): interpolate log10(rate) as a function of quality through each
curve's points, integrate both over the quality range they share, and turn the mean log difference into a
percentage (negative = the test needs fewer bits). BD-quality swaps the axes (quality as a function of
log10 rate; dB for PSNR, mAP points for mAP). The interpolant is a piecewise cubic Hermite curve with
PCHIP slopes (Fritsch-Carlson/Moler, the JVET CTC choice) or Akima slopes, integrated exactly. This is
our own implementation; the tests check it against the `bjontegaard` package to 1e-6.

Rate may be in bits, bpp or kbps (BD-rate is a ratio: both curves must just use the same unit); quality
is mAP (0..1 or %) or PSNR. Each curve needs at least 4 points; quality ranges that overlap by less than
75 % of their union give a `BDOverlapWarning` (the number is unreliable).

Non-monotonic curves - our choice. mAP often falls a little as the rate rises (detector noise), and then
log-rate is not a function of quality. By default (`monotone="error"`) this is an error that lists the
offending points. With `monotone="fit"` the curve is replaced by its isotonic (pool-adjacent-violators)
fit: quality made non-decreasing in rate, runs of points that had to be pooled merged into one point at
their mean quality and mean log10 rate, so each fitted quality has one rate. Every merge is reported.

"Bit saving at equal accuracy" (the figure DT-JRD reports, 29.58 %): for each test point whose quality
lies inside the anchor's range, 1 - R_test / R_anchor(q_test), where R_anchor(q) is the anchor curve
interpolated the same way at that quality; the mean over those points is reported.
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
from vcm.types import RDPoint

METHODS = ("pchip", "akima")
MONOTONE = ("error", "fit")
MIN_POINTS = 4
MIN_OVERLAP = 0.75


class BDOverlapWarning(UserWarning):
    """The two curves share too little of their range for a trustworthy Bjontegaard delta."""


# --- piecewise cubic Hermite interpolation (slopes: pchip or akima), exact integration -------------------
def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PCHIP derivatives: weighted harmonic mean inside, shape-preserving 3-point formula at the ends."""
    h = np.diff(x)
    m = np.diff(y) / h
    n = len(x)
    d = np.zeros(n)
    if n == 2:
        return np.array([m[0], m[0]])
    for k in range(1, n - 1):
        if m[k - 1] == 0 or m[k] == 0 or np.sign(m[k - 1]) != np.sign(m[k]):
            d[k] = 0.0
        else:
            w1 = 2 * h[k] + h[k - 1]
            w2 = h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k])

    def end(h0, h1, m0, m1):
        e = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(e) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(e) > 3 * abs(m0):
            return 3 * m0
        return e

    d[0] = end(h[0], h[1], m[0], m[1])
    d[-1] = end(h[-1], h[-2], m[-1], m[-2])
    return d


def akima_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Akima (1970) derivatives, with two extrapolated secants at each end; 2 points: the straight line."""
    m = np.diff(y) / np.diff(x)
    n = len(x)
    if n == 2:
        return np.array([m[0], m[0]])
    mm = np.empty(n + 3)
    mm[2:-2] = m
    mm[1] = 2 * mm[2] - mm[3]
    mm[0] = 2 * mm[1] - mm[2]
    mm[-2] = 2 * mm[-3] - mm[-4]
    mm[-1] = 2 * mm[-2] - mm[-3]
    d = 0.5 * (mm[3:] + mm[:-3])  # where both weights vanish
    dm = np.abs(np.diff(mm))
    f1, f2 = dm[2:], dm[:-2]
    f12 = f1 + f2
    ok = f12 > 1e-9 * (f12.max() if f12.size else 0)
    d[ok] = mm[1:-2][ok] + (f2[ok] / f12[ok]) * (mm[2:-1][ok] - mm[1:-2][ok])
    return d


@dataclass(frozen=True)
class Hermite:
    """A C1 piecewise cubic through (x, y) with slopes d; x strictly increasing."""

    x: np.ndarray
    y: np.ndarray
    d: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, method: str) -> "Hermite":
        if method not in METHODS:
            raise VcmError(f"unknown interpolation method {method!r}", fix=f"use one of {', '.join(METHODS)}")
        x, y = np.asarray(x, float), np.asarray(y, float)
        slopes = pchip_slopes if method == "pchip" else akima_slopes
        return cls(x, y, slopes(x, y))

    def _coeffs(self, k: int) -> tuple[float, float, float, float, float]:
        h = self.x[k + 1] - self.x[k]
        m = (self.y[k + 1] - self.y[k]) / h
        d0, d1 = self.d[k], self.d[k + 1]
        return self.y[k], d0, (3 * m - 2 * d0 - d1) / h, (d0 + d1 - 2 * m) / h ** 2, h

    def __call__(self, xq: float | np.ndarray) -> np.ndarray:
        xq = np.atleast_1d(np.asarray(xq, float))
        k = np.clip(np.searchsorted(self.x, xq, side="right") - 1, 0, len(self.x) - 2)
        out = np.empty_like(xq)
        for i, (xi, ki) in enumerate(zip(xq, k)):
            c0, c1, c2, c3, _ = self._coeffs(int(ki))
            t = xi - self.x[ki]
            out[i] = c0 + t * (c1 + t * (c2 + t * c3))
        return out

    def integrate(self, a: float, b: float) -> float:
        total = 0.0
        for k in range(len(self.x) - 1):
            lo, hi = max(a, self.x[k]), min(b, self.x[k + 1])
            if hi <= lo:
                continue
            c0, c1, c2, c3, _ = self._coeffs(k)
            t0, t1 = lo - self.x[k], hi - self.x[k]
            P = lambda t: c0 * t + c1 * t ** 2 / 2 + c2 * t ** 3 / 3 + c3 * t ** 4 / 4  # noqa: E731
            total += P(t1) - P(t0)
        return float(total)


# --- curves ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """Rate-quality points sorted by rate; `notes` says what a monotone fit changed."""

    rate: np.ndarray
    quality: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def log_rate(self) -> np.ndarray:
        return np.log10(self.rate)


def _as_arrays(points: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(points, Curve):
        return points.rate, points.quality
    if isinstance(points, tuple) and len(points) == 2 and np.ndim(points[0]) == 1:
        return np.asarray(points[0], float), np.asarray(points[1], float)
    pts = list(points)
    if pts and isinstance(pts[0], RDPoint):
        return np.array([p.rate for p in pts], float), np.array([p.quality for p in pts], float)
    arr = np.asarray(pts, float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _fmt(r: float, q: float) -> str:
    return f"(rate={r:g}, quality={q:g})"


def isotonic_fit(rate: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pool adjacent violators on rate-sorted points: strictly increasing quality, pooled runs merged."""
    blocks: list[list[int]] = []
    for i in range(len(rate)):
        blocks.append([i])
        while len(blocks) > 1 and quality[blocks[-1]].mean() <= quality[blocks[-2]].mean():
            last = blocks.pop()
            blocks[-1] += last
    r_out, q_out, notes = [], [], []
    for b in blocks:
        lr = float(np.mean(np.log10(rate[b])))
        q = float(np.mean(quality[b]))
        r_out.append(10 ** lr)
        q_out.append(q)
        if len(b) > 1:
            notes.append("merged " + ", ".join(_fmt(rate[i], quality[i]) for i in b) + f" into {_fmt(10 ** lr, q)}")
    return np.array(r_out), np.array(q_out), notes


def prepare_curve(points: Any, *, name: str = "curve", monotone: str = "error",
                  min_points: int = MIN_POINTS) -> Curve:
    """Check and sort one curve; make it monotone (quality rising with rate) or say which points are not."""
    if monotone not in MONOTONE:
        raise ValueError(f"monotone must be one of {MONOTONE}, got {monotone!r}")
    rate, quality = _as_arrays(points)
    if len(rate) < min_points:
        raise VcmError(f"{name} curve has {len(rate)} point(s); at least {min_points} are needed",
                       fix="measure more rate points (e.g. 4 QPs)")
    if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(quality))):
        raise VcmError(f"{name} curve has a non-finite rate or quality", fix="remove NaN/inf points")
    if np.any(rate <= 0):
        raise VcmError(f"{name} curve has a rate <= 0", fix="rates must be positive (bits, bpp or kbps)")
    order = np.argsort(rate, kind="stable")
    rate, quality = rate[order], quality[order]
    dup = np.nonzero(np.diff(rate) == 0)[0]
    if dup.size:
        raise VcmError(f"{name} curve has two points at the same rate {rate[dup[0]]:g}",
                       fix="keep one point per rate")
    bad = np.nonzero(np.diff(quality) <= 0)[0]
    if bad.size == 0:
        return Curve(rate, quality)
    if monotone == "error":
        pairs = "; ".join(f"{_fmt(rate[i], quality[i])} -> {_fmt(rate[i + 1], quality[i + 1])}" for i in bad)
        raise VcmError(f"{name} curve is not monotonic: quality does not rise with rate at {pairs}",
                       fix="remove those points, or use a monotone fit (--monotone fit / monotone='fit')")
    r, q, notes = isotonic_fit(rate, quality)
    if len(r) < 2:
        raise VcmError(f"{name} curve: quality never rises with rate; no curve is left after a monotone fit",
                       fix="check the measurements")
    if len(r) < min_points:
        notes.append(f"only {len(r)} points left after the monotone fit")
    return Curve(r, q, tuple(f"{name}: {n}" for n in notes))


def _curve(points: Any, name: str, monotone: str) -> Curve:
    """A prepared Curve passes through unchanged (it may have < 4 points after a monotone fit)."""
    return points if isinstance(points, Curve) else prepare_curve(points, name=name, monotone=monotone)


def _overlap(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> tuple[float, float, float]:
    lo, hi = max(a_lo, b_lo), min(a_hi, b_hi)
    union = max(a_hi, b_hi) - min(a_lo, b_lo)
    return float(lo), float(hi), float(max(hi - lo, 0.0) / union if union > 0 else 0.0)


def _delta(xa, ya, xt, yt, method: str, what: str, min_overlap: float, metric: str) -> tuple[float, float]:
    lo, hi, ov = _overlap(xa.min(), xa.max(), xt.min(), xt.max())
    if hi <= lo:
        raise VcmError(f"{metric}: the curves do not overlap in {what} (anchor {xa.min():g}..{xa.max():g}, "
                       f"test {xt.min():g}..{xt.max():g})", fix="measure points over a common range")
    if ov < min_overlap:
        warnings.warn(f"{metric}: the curves overlap in only {ov:.0%} of their {what} range (< {min_overlap:.0%}): "
                      "the Bjontegaard delta is unreliable", BDOverlapWarning, stacklevel=3)
    fa, ft = Hermite.fit(xa, ya, method), Hermite.fit(xt, yt, method)
    return (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo), ov


def bd_rate(anchor: Any, test: Any, method: str = "pchip", *, monotone: str = "error",
            min_overlap: float = MIN_OVERLAP) -> float:
    """Bjontegaard delta rate in percent (negative: the test needs fewer bits for the same quality)."""
    a, t = _curve(anchor, "anchor", monotone), _curve(test, "test", monotone)
    avg, _ = _delta(a.quality, a.log_rate, t.quality, t.log_rate, method, "quality", min_overlap, "BD-rate")
    return float((10 ** avg - 1) * 100)


def bd_quality(anchor: Any, test: Any, method: str = "pchip", *, monotone: str = "error",
               min_overlap: float = MIN_OVERLAP) -> float:
    """Bjontegaard delta quality (dB for PSNR, mAP units for mAP) at the same rate; positive: test is better."""
    a, t = _curve(anchor, "anchor", monotone), _curve(test, "test", monotone)
    avg, _ = _delta(a.log_rate, a.quality, t.log_rate, t.quality, method, "log rate", min_overlap, "BD-quality")
    return float(avg)


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
                            monotone: str = "error") -> EqualQualitySaving:
    """Mean of 1 - R_test / R_anchor(q_test) (percent) over test points inside the anchor's quality range.

    The test may have a single point (one operating point of the method); the anchor needs 4 or more.
    """
    a = _curve(anchor, "anchor", monotone)
    rate, quality = _as_arrays(test)
    if len(rate) < 1 or np.any(rate <= 0) or not np.all(np.isfinite(rate)) or not np.all(np.isfinite(quality)):
        raise VcmError("test points need positive, finite rates and finite qualities", fix="check the test curve")
    f = Hermite.fit(a.quality, a.log_rate, method)
    pts, outside = [], 0
    for r, q in sorted(zip(rate.tolist(), quality.tolist())):
        if q < a.quality.min() or q > a.quality.max():
            outside += 1
            continue
        ra = float(10 ** f(q)[0])
        pts.append({"rate": r, "quality": q, "anchor_rate": ra, "saving_percent": (1 - r / ra) * 100})
    mean = float(np.mean([p["saving_percent"] for p in pts])) if pts else float("nan")
    return EqualQualitySaving(mean, tuple(pts), outside)


@dataclass
class BDReport:
    """Everything `vcm bdrate` prints, with the reasons for any value that could not be computed."""

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

    def to_json(self) -> dict[str, Any]:
        nan2none = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
        return {"method": self.method, "monotone": self.monotone, "bd_rate_percent": nan2none(self.bd_rate_percent),
                "bd_quality": nan2none(self.bd_quality),
                "saving_at_equal_quality": self.saving.to_json() if self.saving else None,
                "quality_overlap": nan2none(self.quality_overlap), "rate_overlap": nan2none(self.rate_overlap),
                "notes": self.notes, "warnings": self.warnings, "errors": self.errors}


def compare(anchor: Any, test: Any, method: str = "pchip", *, monotone: str = "error",
            min_overlap: float = MIN_OVERLAP) -> BDReport:
    """BD-rate, BD-quality and the equal-accuracy saving at once; a curve error is raised, a metric that
    cannot be computed (no overlap) is NaN with its reason in `errors`."""
    if method not in METHODS:
        raise VcmError(f"unknown interpolation method {method!r}", fix=f"use one of {', '.join(METHODS)}")
    a = prepare_curve(anchor, name="anchor", monotone=monotone)
    rep = BDReport(method, monotone, notes=list(a.notes))
    try:
        t = prepare_curve(test, name="test", monotone=monotone)
    except VcmError as e:  # e.g. a method with one operating point: no BD, but the saving still applies
        rep.errors["bd_rate"] = rep.errors["bd_quality"] = str(e)
        rep.saving = saving_at_equal_quality(a, _as_arrays(test), method)
        return rep
    rep.notes += list(t.notes)
    rep.quality_overlap = _overlap(a.quality.min(), a.quality.max(), t.quality.min(), t.quality.max())[2]
    rep.rate_overlap = _overlap(a.log_rate.min(), a.log_rate.max(), t.log_rate.min(), t.log_rate.max())[2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BDOverlapWarning)
        for key, fn in (("bd_rate", lambda: bd_rate(a, t, method, min_overlap=min_overlap)),
                        ("bd_quality", lambda: bd_quality(a, t, method, min_overlap=min_overlap))):
            try:
                v = fn()
                if key == "bd_rate":
                    rep.bd_rate_percent = v
                else:
                    rep.bd_quality = v
            except VcmError as e:
                rep.errors[key] = str(e)
    rep.warnings = sorted({str(w.message) for w in caught if issubclass(w.category, BDOverlapWarning)})
    rep.saving = saving_at_equal_quality(a, _as_arrays(test), method)
    return rep


def read_rd_csv(path: str | Path) -> list[RDPoint]:
    """A CSV with a header naming `rate` and `quality` columns (others are kept in each point's settings)."""
    p = Path(path)
    fix = "give a CSV with the header rate,quality and one numeric row per point"
    if not p.is_file():
        raise VcmError("no such file", path=p, fix="check the path")
    try:
        with open(p, newline="") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as e:
        raise VcmError(f"not a readable CSV ({type(e).__name__})", path=p, fix=fix) from e
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise VcmError("the CSV is empty", path=p, fix=fix)
    header = [c.strip().lower() for c in rows[0]]
    if "rate" not in header or "quality" not in header:
        raise VcmError(f"the header has no 'rate' and 'quality' columns (found: {','.join(header)})", path=p, fix=fix)
    ri, qi = header.index("rate"), header.index("quality")
    points = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise VcmError(f"line {n} has {len(row)} fields, the header has {len(header)}", path=p, fix=fix)
        try:
            r, q = float(row[ri]), float(row[qi])
        except ValueError:
            raise VcmError(f"line {n}: rate {row[ri].strip()!r} or quality {row[qi].strip()!r} is not a number",
                           path=p, fix=fix) from None
        if not (math.isfinite(r) and math.isfinite(q)):
            raise VcmError(f"line {n}: rate and quality must be finite", path=p, fix=fix)
        if r <= 0:
            raise VcmError(f"line {n}: rate {r:g} must be > 0", path=p, fix=fix)
        extra = {h: row[i].strip() for i, h in enumerate(header) if i not in (ri, qi)}
        points.append(RDPoint(r, q, extra))
    return points
