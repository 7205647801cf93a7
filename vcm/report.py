"""The benchmark's report files: points.csv, summary.json, report.md and rd.png (pure writers and readers).

`vcm benchmark` (vcm/pipelines/benchmark.py) measures; this module only turns its typed results (the RD points
of vcm.metrics.rd, the summary) into files and back, so the summary can be recomputed from points.csv and tested against what was written. Every writer is
atomic (vcm.fsutil): a report file is whole or absent.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from vcm.errors import VcmError
from vcm.fsutil import atomic_path, write_json_atomic
from vcm.metrics.rd import ANCHOR, CurvePoint, PointRow, compare_curves, curves_from_points

SUMMARY_FORMAT = "vcm-benchmark/1"


POINT_FIELDS = [f.name for f in fields(PointRow)]
_OPTIONAL_TEXT = {"chosen"}
CURVE_FIELDS = [f.name for f in fields(CurvePoint)]
_INT_FIELDS = {"qp", "offset", "qp_min", "bg_qp", "width", "height", "bytes", "bits", "objects", "kept", "min_qp", "max_qp",
               "pictures", "bits", "pixels"}
_FLOAT_FIELDS = {"bpp", "kept_fraction", "encode_s", "map50", "map"}


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)  # repr: the csv keeps every bit of a float
    return str(v)


def _parse(name: str, text: str) -> Any:
    if name in _INT_FIELDS:
        return int(text) if text != "" else None
    if name in _FLOAT_FIELDS:
        return float(text) if text != "" else float("nan")
    return text if text != "" or name not in _OPTIONAL_TEXT else None


def rows_to_csv(rows: Iterable[Any], columns: Sequence[str], extra: dict[str, Sequence[Any]] | None = None) -> str:
    """Dataclass rows as CSV text; `extra`: more columns, one value per row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    extra = extra or {}
    w.writerow(list(columns) + list(extra))
    for i, r in enumerate(rows):
        d = asdict(r)
        w.writerow([_cell(d[c]) for c in columns] + [_cell(v[i]) for v in extra.values()])
    return buf.getvalue()


def write_points_csv(path: str | Path, rows: Iterable[PointRow]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(rows_to_csv(rows, POINT_FIELDS))


def read_points_csv(path: str | Path) -> list[PointRow]:
    """points.csv back into PointRow objects (a missing or foreign file is a one-line error)."""
    p = Path(path)
    try:
        with open(p, newline="") as f:
            reader = csv.DictReader(f)
            needed = set(POINT_FIELDS) - {"min_qp", "max_qp", "bits", "chosen", "qp_min"}
            if reader.fieldnames is None or not needed <= set(reader.fieldnames):
                raise VcmError("not a vcm points.csv (columns missing)", path=p, fix="rerun `vcm benchmark`")
            return [PointRow(**{k: _parse(k, row.get(k, "")) for k in POINT_FIELDS if k != "bits"}) for row in reader]
    except OSError as e:
        raise VcmError(f"cannot read ({e.strerror})", path=p, fix="rerun `vcm benchmark`") from None
    except (ValueError, TypeError) as e:
        raise VcmError(f"malformed row ({e})", path=p, fix="rerun `vcm benchmark`") from None


def write_curves_csv(path: str | Path, points: Iterable[CurvePoint]) -> None:
    """Every point of every curve, and in `bd` the qualities whose BD numbers use it (vcm.metrics.rd.needed_points:
    a finer-background point counts only where the curve needs it), so `vcm bdrate curves.csv --curve C` gives the
    summary's numbers."""
    from vcm.metrics.rd import BD_QUALITIES, needed_points

    points = list(points)
    used = {q: {id(p) for p in needed_points(points, q)} for q in BD_QUALITIES}
    bd = [" ".join(q for q in BD_QUALITIES if id(p) in used[q]) for p in points]
    with atomic_path(path) as tmp:
        tmp.write_text(rows_to_csv(points, CURVE_FIELDS, {"bd": bd}))


def curve_points_to_json(points: Iterable[CurvePoint]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        out.setdefault(p.curve, []).append(asdict(p))
    return out


def curve_points_from_json(doc: dict[str, list[dict[str, Any]]]) -> list[CurvePoint]:
    return [CurvePoint(**d) for pts in doc.values() for d in pts]


def write_summary_json(path: str | Path, summary: dict[str, Any]) -> None:
    write_json_atomic(path, _finite(summary))


def read_summary_json(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise VcmError(f"cannot read the summary ({e})", path=p, fix="rerun `vcm benchmark`") from None
    if doc.get("format") != SUMMARY_FORMAT:
        raise VcmError(f"not a {SUMMARY_FORMAT} summary", path=p, fix="rerun `vcm benchmark`")
    return doc


def _finite(obj: Any) -> Any:
    """NaN/inf become null: summary.json stays strict JSON that any parser reads."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _pct(x: Any, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:+.{digits}f}%"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The printed summary's last lines: one per compared curve and quality, with the BD-rate by pchip and
    akima (or n/a and why), the point counts after the fit, the overlap and every warning."""
    lines = []
    for key, qname in (("bd_rate", "mAP@0.5"), ("bd_rate_map", "mAP@0.5:0.95")):
        for curve, bd in (summary.get(key) or {}).items():
            if bd.get("line"):
                lines.append(f"{curve} ({qname}): {bd['line']}")
                continue
            line = f"{curve}: BD-rate {_pct(bd.get('pchip'))} (pchip) vs plain VVC"  # a summary from before the fits
            if bd.get("pchip") is None and bd.get("error"):
                line += f" ({bd['error']})"
            if bd.get("warnings"):
                line += "; warning: " + "; ".join(bd["warnings"])
            lines.append(line)
    lines += baseline_lines(summary.get("bd_rate") or {})
    sub = summary.get("subsets") or {}
    if sub.get("pictures_without_objects"):
        lines.append(f"{sub['pictures_without_objects']} of {summary.get('pictures', '?')} pictures hold no object "
                     f"to keep; over the {sub.get('pictures_with_objects')} that do:")
        for curve, bd in ((sub.get("with_objects") or {}).get("bd_rate") or {}).items():
            lines.append(f"  {curve} (mAP@0.5, pictures with objects): {bd.get('line', '')}")
    return lines


def baseline_lines(bd_rate: dict[str, Any]) -> list[str]:
    """The JRD's own gain: each JRD curve's BD-rate beside the same mode's fixed:Q curve (one QP for every object,
    region-of-interest coding without JRD), in percentage points, where both have a number."""
    out = []
    for curve, bd in bd_rate.items():
        mode, pred = curve.split("/", 1)
        if pred.startswith("fixed:"):
            continue
        for other, base in bd_rate.items():
            if other.startswith(f"{mode}/fixed:") and bd.get("pchip") is not None and base.get("pchip") is not None:
                out.append(f"{curve} against {other} (the JRD's own gain, mAP@0.5): "
                           f"{bd['pchip'] - base['pchip']:+.1f} points (pchip)")
    return out


def _encoders(summary: dict[str, Any]) -> str:
    """The JRD modes' encoder, and the plain-VVC anchor's when another one coded it (`--anchor`)."""
    v, s = summary.get("versions", {}), summary.get("settings", {})
    enc, anchor = v.get("encoder", s.get("encoder")), v.get("anchor_encoder")
    return f"{enc}" + (f" (JRD modes); anchor (plain VVC) {anchor}" if anchor and anchor != enc else "")


def _points_used(bd: dict[str, Any]) -> str:
    pu = bd.get("points_used")
    if not pu:
        return str(bd.get("points", "-"))
    return (f"anchor {pu['anchor']}->{pu['anchor_after_fit']}, test {pu['test']}->{pu['test_after_fit']} "
            f"({bd.get('fit', '?')})")


def _overlap_text(bd: dict[str, Any]) -> str:
    ov = bd.get("overlap")
    from vcm.metrics.bdrate import share_text

    return "-" if ov is None else share_text(ov)


def headline_table(summary: dict[str, Any]) -> list[str]:
    """report.md's opening table: curve, BD-rate by pchip and akima, points used, overlap, verdict."""
    out = ["| curve | quality | BD-rate pchip | BD-rate akima | BD-mAP pchip | points used (measured->after fit) "
           "| overlap | verdict |", "|---|---|---:|---:|---:|---|---:|---|"]
    for key, qname in (("bd_rate", "mAP@0.5"), ("bd_rate_map", "mAP@0.5:0.95")):
        for curve, bd in (summary.get(key) or {}).items():
            name = f"{curve} (oracle)" if curve.split("/", 1)[-1].startswith("search") else curve
            bdq = (bd.get("bd_quality") or {}).get("pchip")
            verdict = bd.get("verdict") or ("ok" if bd.get("pchip") is not None and not bd.get("warnings")
                                            else f"unreliable: {bd.get('error') or '; '.join(bd.get('warnings', []))}")
            out.append(f"| {name} | {qname} | {_pct(bd.get('pchip'))} | {_pct(bd.get('akima'))} | "
                       f"{_fmt(bdq, '+.4f')} | {_points_used(bd)} | {_overlap_text(bd)} | "
                       f"{verdict.replace('|', '/')} |")
    return out


def _fmt(v: Any, spec: str = ".4f") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec) if math.isfinite(v) else "n/a"
    return str(v)


def render_report_md(summary: dict[str, Any], points: Sequence[CurvePoint], rd_png: str | None = "rd.png") -> str:
    """report.md: what was run, BD-rates and savings against plain VVC, every RD point, how to reproduce."""
    s = summary.get("settings", {})
    out = ["# vcm benchmark", ""]
    out += headline_table(summary)
    out += ["", f"BD-rate: negative = fewer bits than plain VVC at equal accuracy; n/a when a curve has fewer than "
                f"4 points after the monotone fit ({summary.get('bd_fit', 'see notes')}) or the curves share less "
                "than 75 % of their mAP range; unreliable also when pchip and akima differ by more than 5 points. "
                "Rules and fits: docs/BDRATE.md.", ""]
    gain = baseline_lines(summary.get("bd_rate") or {})
    if gain:
        out += ["Against region-of-interest coding without JRD (one QP for every object):", ""]
        out += [f"- {x}" for x in gain] + [""]
    sub = summary.get("subsets") or {}
    if sub.get("pictures_without_objects"):
        out += [f"{sub['pictures_without_objects']} of {summary.get('pictures', '?')} pictures hold no object to keep; "
                f"over the {sub.get('pictures_with_objects')} that do (mAP@0.5):", ""]
        out += [f"- {c}: {bd.get('line', '')}" for c, bd in ((sub.get("with_objects") or {}).get("bd_rate") or {}).items()]
        out += [""]
    if s.get("rule_text"):
        out += [f"Still detected: {s['rule_text']}.", ""]
    if s.get("rounds"):
        out += ["Points: " + "; ".join(f"round {r['round']}: {', '.join(r['added'])}" for r in s["rounds"]) + ".", ""]
    out.append(f"{summary.get('pictures', '?')} pictures from `{s.get('data', '?')}`, detector `{s.get('detector')}`, "
               f"ground truth: {s.get('ground_truth', 'pseudo (detections on the originals)')}, "
               f"encoder {_encoders(summary)}, preset `{s.get('preset')}`.")
    out += ["", "Rate is bits per pixel over the whole set; accuracy is COCO mAP over all pictures at each point. "
                "BD-rate: average bit-rate change at equal mAP@0.5 against plain VVC (negative = fewer bits).", ""]
    if rd_png:
        out += [f"![bpp against mAP@0.5]({rd_png})", ""]
    out += ["## Details against plain VVC (bpp vs mAP@0.5)", "",
            "| curve | BD-rate pchip | BD-rate akima | saving at equal mAP@0.5 | BD-rate on kept fraction (pchip) "
            "| note |",
            "|---|---|---|---|---|---|"]
    saving = summary.get("saving_at_equal_map", {})
    kept = summary.get("bd_rate_kept", {})
    for curve, bd in summary.get("bd_rate", {}).items():
        sv = saving.get(curve, {})
        note = "; ".join(x for x in [bd.get("error"), *bd.get("warnings", [])] if x)
        name = f"{curve} (oracle)" if curve.split("/", 1)[1].startswith("search") else curve
        out.append(f"| {name} | {_pct(bd.get('pchip'))} | {_pct(bd.get('akima'))} | {_saving_text(sv)} | "
                   f"{_pct(kept.get(curve, {}).get('pchip'))} | {note.replace('|', '/')} |")
    out += ["", "Saving at equal mAP@0.5: mean of 1 - bpp / bpp_plain(mAP) over the curve's points inside plain "
                "VVC's mAP range. Kept fraction: share of the objects found on the originals that the detector "
                "still finds on the decoded pictures (the JRD criterion)."]
    out += ["", "## RD points", "",
            "| curve | point | QP | offset | floor | bg QP | bpp | mAP@0.5 | mAP@0.5:0.95 | kept | encode s |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        out.append(f"| {p.curve} | {p.point} | {_fmt(p.qp)} | {_fmt(p.offset)} | {_fmt(p.qp_min)} | {_fmt(p.bg_qp)} | "
                   f"{_fmt(p.bpp)} | "
                   f"{_fmt(p.map50, '.3f')} | {_fmt(p.map, '.3f')} | {_fmt(p.kept_fraction, '.3f')} | "
                   f"{_fmt(p.encode_s, '.2f')} |")
    notes = [f"- {c}: {n}" for c, bd in summary.get("bd_rate", {}).items() for n in bd.get("notes", [])]
    if notes:
        out += ["", "What the monotone fits changed (mAP is not always monotone in rate; replaced points are hollow "
                    "in rd.png):", ""] + notes
    cmd = summary.get("command")
    if cmd:
        out += ["", "## Reproduce", "", "```", cmd, "```"]
    m = summary.get("machine", {})
    if m:
        vcm_version = summary.get("versions", {}).get("vcm", "?")
        out += ["", f"Machine: {m.get('platform', '?')}, {m.get('cpus', '?')} CPUs; vcm {vcm_version}."]
    return "\n".join(out) + "\n"


def _saving_text(sv: dict[str, Any]) -> str:
    """Mean saving over the curve's points that lie inside plain VVC's mAP range (positive: fewer bits)."""
    if not sv or sv.get("saving_percent") is None:
        return "n/a"
    n, x = len(sv.get("points", [])), sv["saving_percent"]
    return f"{abs(x):.1f}% {'fewer' if x >= 0 else 'more'} bits ({n} point{'s' if n != 1 else ''})"


def write_report_md(path: str | Path, summary: dict[str, Any], points: Sequence[CurvePoint],
                    rd_png: str | None = "rd.png") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(render_report_md(summary, points, rd_png))


def plot_rd(path: str | Path, points: Sequence[CurvePoint], title: str | None = None,
            summary: dict[str, Any] | None = None) -> None:
    """rd.png: bpp against mAP@0.5 (left), one curve per mode/predictor, plain VVC in black, with the fitted
    curves the BD numbers integrate (dashed) and the measured points the monotone fit replaced (hollow, joined
    to their fitted value); on the right the same points against the kept fraction (the JRD criterion).

    The fits come from `summary["bd_rate"]` (vcm.metrics.rd entries); without a summary they are computed here
    with the default fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vcm.metrics.bdrate import interpolated_curve

    curves: dict[str, list[CurvePoint]] = {}
    for p in points:
        curves.setdefault(p.curve, []).append(p)
    fits = _fits_for_plot(points, summary)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.4), dpi=120)
    markers = "osD^v<>pP*X"
    for ax, attr, label in ((axes[0], "map50", "mAP@0.5"), (axes[1], "kept_fraction", "kept fraction of the objects")):
        for i, (name, pts) in enumerate(sorted(curves.items(), key=lambda kv: (kv[0] != ANCHOR, kv[0]))):
            pts = sorted(pts, key=lambda p: p.bpp)
            style = dict(color="black" if name == ANCHOR else f"C{i % 10}", linewidth=2.0 if name == ANCHOR else 1.5)
            line, = ax.plot([p.bpp for p in pts], [getattr(p, attr) for p in pts], marker=markers[i % len(markers)],
                            markersize=4, label="plain VVC" if name == ANCHOR else name, alpha=0.55, **style)
            fit = fits.get(name) if attr == "map50" else None
            if not fit:
                continue
            color = line.get_color()
            fr, fq = np.asarray(fit["fitted"], float).T if fit.get("fitted") else (np.array([]), np.array([]))
            if len(fr) >= 2:
                cr, cq = interpolated_curve((fr, fq), "pchip")
                ax.plot(cr, cq, linestyle="--", color=color, linewidth=1.2)
            ax.plot(fr, fq, linestyle="none", marker=markers[i % len(markers)], markersize=4, color=color)
            meas = np.asarray(fit.get("measured", []), float).reshape(-1, 2)
            for (r, q), rep in zip(meas, fit.get("replaced", [])):
                if rep:
                    ax.plot([r], [q], linestyle="none", marker="o", markersize=7, markerfacecolor="none",
                            markeredgecolor=color)
                    j = int(np.argmin(np.abs(np.log10(fr) - np.log10(r)))) if len(fr) else None
                    if j is not None:
                        ax.plot([r, fr[j]], [q, fq[j]], linestyle=":", color=color, linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (log scale)")
        ax.set_ylabel(label)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fit_name = (summary or {}).get("bd_fit") or next((f.get("fit") for f in fits.values() if f), "")
    axes[0].set_title(f"Detection accuracy against rate (dashed: {fit_name} fit used for BD; hollow: replaced)",
                      fontsize=9)
    axes[1].set_title("Objects still detected against rate", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _fits_for_plot(points: Sequence[CurvePoint], summary: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """curve -> its fit JSON (vcm.metrics.curvefit.CurveFit.to_json) on mAP@0.5, the anchor's included."""
    entries = (summary or {}).get("bd_rate") or {}
    if not any(e.get("test_fit") for e in entries.values()):
        c = curves_from_points(points, "map50")
        if ANCHOR not in c or len(c) < 2:
            return {}
        try:
            entries = compare_curves(c, ANCHOR)
        except VcmError:  # e.g. NaN mAP (no objects): the plot still shows the measured points
            return {}
    fits = {name: e["test_fit"] for name, e in entries.items() if e.get("test_fit")}
    anchor = next((e["anchor_fit"] for e in entries.values() if e.get("anchor_fit")), None)
    if anchor:
        fits[ANCHOR] = anchor
    return fits
