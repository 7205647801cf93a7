"""Monotone fits for rate-accuracy curves, so a Bjontegaard delta can be computed on them.

A BD-rate interpolates log10(rate) as a function of quality, which needs quality to rise strictly with rate.
Detection accuracy often does not (a box flickers around a score threshold, mAP falls one QP finer). Two fits:

- `cubic` (the default): the fit of MPEG's VCM evaluation (CompressAI-Vision's curve fitting, after H. Wang et
  al., "Improvements of the BD-rate model using monotonic curve-fitting", m63692 / PCS 2024): one cubic in
  log10(rate) by least squares, constrained rising and concave, and inside the accuracy bounds (0..1, or 0..100
  for percent), solved with scipy's SLSQP. The fitted values replace the measured ones at the same rates, so the
  curve keeps its points. As in the MPEG scripts, it is applied only to a curve that is not already monotone.
  Unlike them, the rising constraint is checked on a dense grid (not only at the points) and log10(rate) is
  centred and scaled first (the solver then converges from a feasible straight-line start).
- `isotonic`: pool adjacent violators; each run of points that had to be pooled becomes one point at its mean
  quality and mean log10(rate), so the curve loses points (vcm's earlier behaviour).
- `none`: no fit; a non-monotone curve is a `problem` and gets no BD value.

Duplicate rates are merged into one point at their mean quality before a fit (with `none` they are a problem).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FITS = ("cubic", "isotonic", "none")
TIE = 1e-9  # fitted qualities closer than this count as equal


@dataclass(frozen=True)
class CurveFit:
    """One curve before and after its monotone fit; `fitted_*` are the points the BD interpolation uses."""

    fit: str  # cubic, isotonic or none (what was asked)
    applied: bool  # the fit changed something (False: the curve was monotone already)
    rate: tuple[float, ...]  # measured, sorted by rate
    quality: tuple[float, ...]
    fitted_rate: tuple[float, ...]
    fitted_quality: tuple[float, ...]
    replaced: tuple[bool, ...]  # per measured point: its quality was changed or merged by the fit
    coefficients: tuple[float, ...] | None = None  # cubic: in u = (log10(rate) - centre) / scale, highest first
    centre: float = 0.0
    scale: float = 1.0
    notes: tuple[str, ...] = ()
    problem: str | None = None  # why no BD value can use this curve (with fit == "none" or a failed fit)

    @property
    def points(self) -> int:
        return len(self.rate)

    @property
    def points_after_fit(self) -> int:
        return len(self.fitted_rate)

    def model(self, rate: np.ndarray) -> np.ndarray:
        """The cubic at these rates (only for the cubic fit)."""
        assert self.coefficients is not None
        return np.polyval(self.coefficients, (np.log10(rate) - self.centre) / self.scale)

    def to_json(self) -> dict[str, Any]:
        return {"fit": self.fit, "applied": self.applied, "points": self.points,
                "points_after_fit": self.points_after_fit,
                "measured": [[r, q] for r, q in zip(self.rate, self.quality)],
                "fitted": [[r, q] for r, q in zip(self.fitted_rate, self.fitted_quality)],
                "replaced": list(self.replaced), "coefficients": list(self.coefficients) if self.coefficients else None,
                "centre": self.centre, "scale": self.scale, "notes": list(self.notes), "problem": self.problem}


def _fmt(r: float, q: float) -> str:
    return f"(rate={r:g}, quality={q:g})"


def is_monotone(quality: np.ndarray) -> bool:
    return bool(np.all(np.diff(quality) > 0))


def accuracy_bounds(quality: np.ndarray) -> tuple[float, float] | None:
    """0..1 for mAP as a fraction, 0..100 for percent, none for anything else (e.g. PSNR)."""
    if quality.min() >= 0 and quality.max() <= 1:
        return 0.0, 1.0
    if quality.min() >= 0 and quality.max() <= 100:
        return 0.0, 100.0
    return None


def isotonic(rate: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Pool adjacent violators on rate-sorted points: strictly rising quality; returns the pooled blocks."""
    blocks: list[list[int]] = []
    for i in range(len(rate)):
        blocks.append([i])
        while len(blocks) > 1 and quality[blocks[-1]].mean() <= quality[blocks[-2]].mean():
            last = blocks.pop()
            blocks[-1] += last
    r = np.array([10 ** np.mean(np.log10(rate[b])) for b in blocks])
    q = np.array([np.mean(quality[b]) for b in blocks])
    return r, q, blocks


def cubic(rate: np.ndarray, quality: np.ndarray,
          bounds: tuple[float, float] | None) -> tuple[np.ndarray, float, float] | str:
    """Least-squares cubic in log10(rate), rising and concave over the measured range, inside `bounds`.

    Returns (coefficients in u, centre, scale) with u = (log10 rate - centre) / scale, or the solver's reason
    for failing."""
    from scipy.optimize import minimize

    x = np.log10(rate)
    centre, scale = float((x.max() + x.min()) / 2), float((x.max() - x.min()) / 2) or 1.0
    u = (x - centre) / scale
    grid = np.linspace(-1.0, 1.0, 65)
    vander = np.vander(u, 4)

    def sse(b):
        return float(np.sum((vander @ b - quality) ** 2))

    cons = [{"type": "ineq", "fun": lambda b: 3 * b[0] * grid ** 2 + 2 * b[1] * grid + b[2]},  # rising
            {"type": "ineq", "fun": lambda b: -(6 * b[0] * np.array([-1.0, 1.0]) + 2 * b[1])}]  # concave (f'' linear)
    if bounds is not None:
        lo, hi = bounds
        cons += [{"type": "ineq", "fun": lambda b: np.polyval(b, -1.0) - lo},
                 {"type": "ineq", "fun": lambda b: hi - np.polyval(b, 1.0)}]
    slope, icept = np.polyfit(u, quality, 1)
    start = np.array([0.0, 0.0, max(slope, 0.0), icept if slope > 0 else float(np.mean(quality))])
    if bounds is not None:
        start[3] = min(max(start[3], bounds[0] + start[2]), bounds[1] - start[2])
    res = minimize(sse, start, method="SLSQP", constraints=cons, options={"maxiter": 500, "ftol": 1e-12})
    if not res.success:
        return f"the constrained cubic fit did not converge ({res.message})"
    return np.asarray(res.x, float), centre, scale


def _merge_duplicates(rate: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """One point per rate at the mean quality; returns the merged indices too (they count as replaced)."""
    out_r, out_q, notes, merged = [], [], [], []
    for r in np.unique(rate):
        idx = np.nonzero(rate == r)[0]
        out_r.append(r)
        out_q.append(float(quality[idx].mean()))
        if len(idx) > 1:
            merged += idx.tolist()
            notes.append(f"{len(idx)} points at rate {r:g} merged into one at their mean quality {out_q[-1]:g}")
    return np.array(out_r), np.array(out_q), notes, merged


def fit_curve(rate: Any, quality: Any, fit: str = "cubic",
              bounds: tuple[float, float] | None | str = "auto") -> CurveFit:
    """Sort one curve by rate and make quality rise strictly with it (or say why it cannot be used)."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    rate, quality = np.asarray(rate, float), np.asarray(quality, float)
    order = np.argsort(rate, kind="stable")
    rate, quality = rate[order], quality[order]
    base = dict(fit=fit, rate=tuple(rate.tolist()), quality=tuple(quality.tolist()))
    if bounds == "auto":
        bounds = accuracy_bounds(quality) if len(quality) else None

    def unchanged(problem=None, notes=()):
        return CurveFit(**base, applied=False, fitted_rate=base["rate"], fitted_quality=base["quality"],
                        replaced=(False,) * len(rate), notes=tuple(notes), problem=problem)

    if len(rate) == 0:
        return unchanged("no points")
    dup = np.nonzero(np.diff(rate) == 0)[0]
    if fit == "none":
        if dup.size:
            return unchanged(f"two points at the same rate {rate[dup[0]]:g}")
        bad = np.nonzero(np.diff(quality) <= 0)[0]
        if bad.size:
            pairs = "; ".join(f"{_fmt(rate[i], quality[i])} -> {_fmt(rate[i + 1], quality[i + 1])}" for i in bad)
            return unchanged(f"not monotone: quality does not rise with rate at {pairs}")
        return unchanged()
    r, q, notes, merged = _merge_duplicates(rate, quality)
    replaced = np.zeros(len(rate), bool)
    replaced[merged] = True
    if is_monotone(q):
        cf = CurveFit(**base, applied=bool(merged), fitted_rate=tuple(r.tolist()), fitted_quality=tuple(q.tolist()),
                      replaced=tuple(replaced.tolist()), notes=tuple(notes))
        return cf
    owner = np.searchsorted(r, rate)  # measured point -> index of its (merged) point
    if fit == "isotonic":
        fr, fq, blocks = isotonic(r, q)
        for b in blocks:
            if len(b) > 1:
                replaced[np.isin(owner, b)] = True
                notes.append("merged " + ", ".join(_fmt(r[i], q[i]) for i in b)
                             + f" into one point at their mean quality {np.mean(q[b]):g}")
        return CurveFit(**base, applied=True, fitted_rate=tuple(fr.tolist()), fitted_quality=tuple(fq.tolist()),
                        replaced=tuple(replaced.tolist()), notes=tuple(notes))
    got = cubic(r, q, bounds)
    if isinstance(got, str):
        return unchanged(got, notes)
    coef, centre, scale = got
    fq = np.polyval(coef, (np.log10(r) - centre) / scale)
    changed = np.abs(fq - q) > TIE
    replaced |= changed[owner]
    notes.append(f"cubic fit replaced {int(changed.sum())} of {len(q)} qualities (largest change "
                 f"{np.max(np.abs(fq - q)):.3g})")
    # A flat stretch (derivative 0) would give equal qualities, and log-rate would not be a function of quality:
    # keep the lowest rate of each run of (numerically) equal fitted qualities.
    keep = np.concatenate([[True], np.diff(fq) > TIE])
    if not keep.all():
        notes.append(f"{int((~keep).sum())} fitted point(s) on a flat stretch dropped (same quality at a higher rate)")
    return CurveFit(**base, applied=True, fitted_rate=tuple(r[keep].tolist()), fitted_quality=tuple(fq[keep].tolist()),
                    replaced=tuple(replaced.tolist()), coefficients=tuple(coef.tolist()), centre=centre, scale=scale,
                    notes=tuple(notes))
