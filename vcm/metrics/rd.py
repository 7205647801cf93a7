"""RD aggregation for reports: every curve of a benchmark against the anchor, as JSON-ready summary entries.

One entry per (curve, quality) carries the BD-rate by pchip and akima, the BD-mAP, the point counts before and
after the monotone fit, the overlap, warnings, a verdict (ok / unreliable) and the fitted points, so that
summary.json, report.md, rd.png and the printed lines all show the same numbers and caveats.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.metrics.bdrate import DEFAULT_FIT, METHODS, MIN_OVERLAP, MIN_POINTS, bd_compare, saving_at_equal_quality

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


def benchmark_bd(points: Sequence[Any], anchor: str, *, monotone: str = DEFAULT_FIT) -> dict[str, Any]:
    """All BD numbers of a benchmark summary: bd_rate (mAP@0.5), bd_rate_map (mAP@0.5:0.95), bd_rate_kept
    (kept fraction) and saving_at_equal_map, each keyed by curve."""
    out: dict[str, Any] = {"bd_fit": monotone}
    for key, q in (("bd_rate", "map50"), ("bd_rate_map", "map"), ("bd_rate_kept", "kept_fraction")):
        out[key] = compare_curves(curves_from_points(points, q), anchor, monotone=monotone, quality=q)
    c = curves_from_points(points, "map50")
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
