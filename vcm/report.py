"""The benchmark's report files: points.csv, summary.json, report.md and rd.png (pure writers and readers).

`vcm benchmark` (vcm/pipelines/benchmark.py) measures; this module only turns its typed results into files and
back, so the summary can be recomputed from points.csv and tested against what was written. Every writer is
atomic (vcm.fsutil): a report file is whole or absent.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

from vcm.errors import VcmError
from vcm.fsutil import atomic_path, write_json_atomic

ANCHOR = "plain/vvc"  # the curve every other curve is compared with: plain VVC at each QP
SUMMARY_FORMAT = "vcm-benchmark/1"


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

    @property
    def mode(self) -> str:
        return self.curve.split("/", 1)[0]

    @property
    def predictor(self) -> str:
        return self.curve.split("/", 1)[1]


POINT_FIELDS = [f.name for f in fields(PointRow)]
CURVE_FIELDS = [f.name for f in fields(CurvePoint)]
_INT_FIELDS = {"qp", "offset", "bg_qp", "width", "height", "bytes", "bits", "objects", "kept", "min_qp", "max_qp",
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
    return text


def rows_to_csv(rows: Iterable[Any], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        d = asdict(r)
        w.writerow([_cell(d[c]) for c in columns])
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
            needed = set(POINT_FIELDS) - {"min_qp", "max_qp", "bits"}
            if reader.fieldnames is None or not needed <= set(reader.fieldnames):
                raise VcmError("not a vcm points.csv (columns missing)", path=p, fix="rerun `vcm benchmark`")
            return [PointRow(**{k: _parse(k, row.get(k, "")) for k in POINT_FIELDS if k != "bits"}) for row in reader]
    except OSError as e:
        raise VcmError(f"cannot read ({e.strerror})", path=p, fix="rerun `vcm benchmark`") from None
    except (ValueError, TypeError) as e:
        raise VcmError(f"malformed row ({e})", path=p, fix="rerun `vcm benchmark`") from None


def write_curves_csv(path: str | Path, points: Iterable[CurvePoint]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(rows_to_csv(points, CURVE_FIELDS))


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
    """The printed summary's last lines: one per compared curve, `<mode>/<predictor>: BD-rate x% (pchip) vs
    plain VVC` (n/a with the reason when the curves could not be compared)."""
    lines = []
    for curve, bd in summary.get("bd_rate", {}).items():
        line = f"{curve}: BD-rate {_pct(bd.get('pchip'))} (pchip) vs plain VVC"
        if bd.get("pchip") is None and bd.get("error"):
            line += f" ({bd['error']})"
        lines.append(line)
    return lines


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
    out.append(f"{summary.get('pictures', '?')} pictures from `{s.get('data', '?')}`, detector `{s.get('detector')}`, "
               f"ground truth: {s.get('ground_truth', 'pseudo (detections on the originals)')}, "
               f"encoder {summary.get('versions', {}).get('encoder', s.get('encoder'))}, preset `{s.get('preset')}`.")
    out += ["", "Rate is bits per pixel over the whole set; accuracy is COCO mAP over all pictures at each point. "
                "BD-rate: average bit-rate change at equal mAP@0.5 against plain VVC (negative = fewer bits).", ""]
    if rd_png:
        out += [f"![bpp against mAP@0.5]({rd_png})", ""]
    out += ["## BD-rate against plain VVC (bpp vs mAP@0.5)", "",
            "| curve | BD-rate pchip | BD-rate akima | saving at equal mAP@0.5 | BD-rate on kept fraction (pchip) "
            "| note |",
            "|---|---|---|---|---|---|"]
    saving = summary.get("saving_at_equal_map", {})
    kept = summary.get("bd_rate_kept", {})
    for curve, bd in summary.get("bd_rate", {}).items():
        sv = saving.get(curve, {})
        note = bd.get("error") or ("; ".join(bd.get("warnings", [])) if bd.get("warnings") else "")
        name = f"{curve} (oracle)" if curve.split("/", 1)[1].startswith("search") else curve
        out.append(f"| {name} | {_pct(bd.get('pchip'))} | {_pct(bd.get('akima'))} | {_saving_text(sv)} | "
                   f"{_pct(kept.get(curve, {}).get('pchip'))} | {note.replace('|', '/')} |")
    out += ["", "Saving at equal mAP@0.5: mean of 1 - bpp / bpp_plain(mAP) over the curve's points inside plain "
                "VVC's mAP range. Kept fraction: share of the objects found on the originals that the detector "
                "still finds on the decoded pictures (the JRD criterion)."]
    out += ["", "## RD points", "",
            "| curve | point | QP | offset | bg QP | bpp | mAP@0.5 | mAP@0.5:0.95 | kept | encode s |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        out.append(f"| {p.curve} | {p.point} | {_fmt(p.qp)} | {_fmt(p.offset)} | {_fmt(p.bg_qp)} | {_fmt(p.bpp)} | "
                   f"{_fmt(p.map50, '.3f')} | {_fmt(p.map, '.3f')} | {_fmt(p.kept_fraction, '.3f')} | "
                   f"{_fmt(p.encode_s, '.2f')} |")
    notes = [f"- {c}: {n}" for c, bd in summary.get("bd_rate", {}).items() for n in bd.get("notes", [])]
    if notes:
        out += ["", "Monotone fits and merged points (mAP is not always monotone in rate):", ""] + notes
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


def plot_rd(path: str | Path, points: Sequence[CurvePoint], title: str | None = None) -> None:
    """rd.png: bpp against mAP@0.5 (left), one curve per mode/predictor, plain VVC in black; on the right the
    same points against the kept fraction (the JRD criterion), which mAP alone hides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, list[CurvePoint]] = {}
    for p in points:
        curves.setdefault(p.curve, []).append(p)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.4), dpi=120)
    markers = "osD^v<>pP*X"
    for ax, attr, label in ((axes[0], "map50", "mAP@0.5"), (axes[1], "kept_fraction", "kept fraction of the objects")):
        for i, (name, pts) in enumerate(sorted(curves.items(), key=lambda kv: (kv[0] != ANCHOR, kv[0]))):
            pts = sorted(pts, key=lambda p: p.bpp)
            style = dict(color="black", linewidth=2.0) if name == ANCHOR else dict(linewidth=1.5)
            ax.plot([p.bpp for p in pts], [getattr(p, attr) for p in pts], marker=markers[i % len(markers)],
                    markersize=4, label="plain VVC" if name == ANCHOR else name, **style)
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (log scale)")
        ax.set_ylabel(label)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].set_title("Detection accuracy against rate", fontsize=10)
    axes[1].set_title("Objects still detected against rate", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
