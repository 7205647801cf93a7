"""Bjontegaard deltas (against the `bjontegaard` package), the monotone fits, the n/a rules, `vcm bdrate`, and
the report's BD table and plot."""
from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from vcm.errors import VcmError
from vcm.metrics.bdrate import (METHODS, BDResult, bd_compare, bd_quality, bd_rate, compare, interpolated_curve,
                                read_rd_table, saving_at_equal_quality)
from vcm.metrics.curvefit import fit_curve
from vcm.metrics.rd import RDPoint, read_rd_csv

# The README's `vcm bdrate` example (rate in bits, mAP).
ANCHOR = ([1000.0, 1900.0, 3600.0, 7000.0], [0.52, 0.61, 0.68, 0.72])
TEST = ([700.0, 1400.0, 2600.0, 5200.0], [0.53, 0.62, 0.69, 0.73])
# Real non-monotone curves (docs/BENCHMARKS.md): plain random-access VVC on bikes.mp4, QP 22..47, kbps vs mAP@0.5
# (0.239 at QP 37, 0.302 at QP 42), and the 16-picture bundled set, QP 22..57, bpp vs mAP@0.5.
RA_PLAIN = ([334.2, 176.2, 102.2, 63.2, 39.3, 24.3], [0.658, 0.571, 0.408, 0.239, 0.302, 0.040])
SET16_PLAIN = ([0.7168, 0.4624, 0.2851, 0.1634, 0.0848, 0.0395, 0.0195, 0.0101],
               [0.752, 0.752, 0.541, 0.235, 0.376, 0.356, 0.257, 0.064])
RA_OBJECTS_PRIOR = ([66.4, 46.3, 32.1, 22.4], [0.171, 0.381, 0.317, 0.191])


def _bj(fn, a, t, method):
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(bjontegaard, fn)(*a, *t, method=method, require_matching_points=False)


@pytest.mark.parametrize("method", METHODS)
def test_readme_example_agrees_with_bjontegaard(method):
    r = bd_compare(ANCHOR, TEST, method=method)
    assert r.value == pytest.approx(_bj("bd_rate", ANCHOR, TEST, method), abs=1e-9)
    assert r.value == pytest.approx({"pchip": -34.008, "akima": -33.93}[method], abs=0.01)
    # the curves share 72 % of their log-rate range: BD-quality is n/a by the 75 % rule, a number below it
    assert r.bd_quality is None and "72%" in r.bd_quality_reason and "log-rate" in r.bd_quality_reason
    low = bd_compare(ANCHOR, TEST, method=method, min_overlap=0.7)
    assert low.bd_quality == pytest.approx(_bj("bd_psnr", ANCHOR, TEST, method), abs=1e-9)
    assert r.anchor_points == r.anchor_points_after_fit == r.test_points_after_fit == 4 and not r.warnings


def test_identical_and_half_rate_curves():
    half = ([r / 2 for r in ANCHOR[0]], ANCHOR[1])
    for m in METHODS:
        assert bd_rate(ANCHOR, ANCHOR, m) == pytest.approx(0.0, abs=1e-12)
        assert bd_quality(ANCHOR, ANCHOR, m) == pytest.approx(0.0, abs=1e-12)
        assert bd_rate(ANCHOR, half, m) == pytest.approx(-50.0, abs=1e-9)
        assert saving_at_equal_quality(ANCHOR, half, m).mean_percent == pytest.approx(50.0, abs=1e-9)
    assert bd_rate([RDPoint(r, q) for r, q in zip(*ANCHOR)], half) == pytest.approx(-50.0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_random_monotone_curves_agree_with_bjontegaard(method):
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 30:
        n, m = rng.integers(4, 8, 2)
        a = (np.sort(rng.uniform(200, 9000, n)), np.sort(rng.uniform(0.3, 0.8, n)))
        t = (np.sort(rng.uniform(150, 9000, m)), np.sort(rng.uniform(0.3, 0.8, m)))
        r = bd_compare(a, t, method=method, min_overlap=0.0)
        ref = _bj("bd_rate", a, t, method)
        if not np.isfinite(ref) or r.value is None:
            continue
        assert r.value == pytest.approx(ref, abs=1e-9)
        checked += 1


@pytest.mark.parametrize("curve", [RA_PLAIN, SET16_PLAIN, RA_OBJECTS_PRIOR])
def test_cubic_fit_is_rising_concave_bounded_on_real_non_monotone_curves(curve):
    rate, q = np.asarray(curve[0]), np.asarray(curve[1])
    assert np.any(np.diff(q[np.argsort(rate)]) < 0)  # really non-monotone
    c = fit_curve(rate, q, "cubic")
    assert c.problem is None and c.applied and c.points_after_fit == len(rate)  # values replaced, points kept
    fq = np.asarray(c.fitted_quality)
    assert np.all(np.diff(fq) > 0) and fq.min() >= 0 and fq.max() <= 1
    grid = np.logspace(np.log10(rate.min()), np.log10(rate.max()), 400)
    y = c.model(grid)
    assert np.all(np.diff(y) >= -1e-9)  # rising between the points too
    assert np.all(np.diff(y, 2) <= 1e-9)  # concave in log10(rate) (uniform grid in log rate)
    assert np.allclose(c.model(np.asarray(c.fitted_rate)), fq)
    # it is the least-squares member of its class: no worse than the best rising straight line (also feasible)
    x = np.log10(np.sort(rate))
    qs = q[np.argsort(rate)]
    slope, icept = np.polyfit(x, qs, 1)
    line = np.polyval([slope, icept], x) if slope > 0 else np.full_like(qs, qs.mean())
    assert np.sum((fq - qs) ** 2) <= np.sum((line - qs) ** 2) + 1e-12


def test_monotone_curve_is_left_alone_and_duplicates_merge():
    c = fit_curve(*ANCHOR, "cubic")
    assert not c.applied and c.fitted_quality == tuple(ANCHOR[1]) and not any(c.replaced)
    d = fit_curve([1000, 1000, 4000, 8000, 9000], [0.5, 0.6, 0.7, 0.75, 0.8], "isotonic")
    assert d.points_after_fit == 4 and d.fitted_quality[0] == pytest.approx(0.55) and d.replaced[:2] == (True, True)
    assert "same rate" in fit_curve([1000, 1000, 4000, 8000], [0.5, 0.6, 0.7, 0.75], "none").problem


def test_isotonic_pools_and_too_few_points_after_the_fit_is_na():
    bumpy = ([1000.0, 2000.0, 4000.0, 8000.0, 16000.0], [0.50, 0.62, 0.60, 0.70, 0.72])
    c = fit_curve(*bumpy, "isotonic")
    assert list(c.fitted_quality) == pytest.approx([0.50, 0.61, 0.70, 0.72])
    assert c.fitted_rate[1] == pytest.approx(np.sqrt(2000 * 4000))  # mean log rate of the pooled pair
    r = bd_compare(RA_PLAIN, RA_OBJECTS_PRIOR, monotone="isotonic")
    assert r.test_points_after_fit == 2 and r.value is None and r.bd_quality is None
    assert r.reason == "test curve has 2 points after the fit; 4 are needed"
    assert r.format().startswith("BD-rate (pchip) n/a (test curve has 2 points after the fit")
    assert "test 4->2 (isotonic fit)" in r.format() and "warning: " in r.format()
    few = bd_compare(ANCHOR, ([1000, 2000, 4000], [0.5, 0.6, 0.7]))
    assert few.value is None and "3 points" in few.reason
    with pytest.raises(VcmError, match="n/a: test curve has 3 points"):
        bd_rate(ANCHOR, ([1000, 2000, 4000], [0.5, 0.6, 0.7]))


def test_overlap_below_75_percent_is_na_with_the_overlap():
    t = ([900, 1800, 3500, 7200], [0.66, 0.70, 0.74, 0.78])  # shares 0.66..0.72 of 0.52..0.78
    r = bd_compare(ANCHOR, t)
    assert r.overlap == pytest.approx(0.06 / 0.26) and r.value is None
    assert r.reason == "the curves share 23% of their quality range; 75% is needed"
    assert "n/a (the curves share 23%" in r.format() and "overlap 23%" in r.format()
    assert bd_compare(ANCHOR, t, min_overlap=0.2).value == pytest.approx(_bj("bd_rate", ANCHOR, t, "pchip"), abs=1e-9)
    apart = bd_compare(ANCHOR, ([900, 1800, 3500, 7200], [0.80, 0.82, 0.84, 0.86]))
    assert apart.value is None and apart.overlap == 0.0


def test_non_monotone_without_fit_names_points_and_bad_input_raises():
    r = bd_compare(RA_PLAIN, ANCHOR, monotone="none")
    assert r.value is None and "(rate=39.3, quality=0.302) -> (rate=63.2, quality=0.239)" in r.reason
    with pytest.raises(VcmError, match="rate <= 0"):
        bd_compare(ANCHOR, ([0, 1000, 4000, 8000], [0.5, 0.6, 0.7, 0.75]))
    with pytest.raises(VcmError, match="unknown interpolation"):
        bd_compare(ANCHOR, ANCHOR, method="cubic")
    with pytest.raises(VcmError, match="unknown monotone fit"):
        bd_compare(ANCHOR, ANCHOR, monotone="spline")


def test_result_json_and_fitted_curve_for_plots():
    r = bd_compare(RA_PLAIN, RA_PLAIN)
    assert isinstance(r, BDResult) and r.value == pytest.approx(0.0, abs=1e-9)
    doc = json.loads(json.dumps(r.to_json()))
    assert doc["anchor_fit"]["fit"] == "cubic" and len(doc["anchor_fit"]["fitted"]) == 6
    assert doc["anchor_fit"]["replaced"] == [True] * 6
    rates, quals = interpolated_curve(r.anchor_fit)
    assert np.all(np.diff(quals) > 0) and rates.min() == pytest.approx(min(RA_PLAIN[0]), rel=1e-6)


def test_saving_at_equal_quality_single_point_and_outside():
    s = saving_at_equal_quality(ANCHOR, ([1900.0 * 0.7], [0.61]))
    assert s.mean_percent == pytest.approx(30.0) and len(s.points) == 1
    out = saving_at_equal_quality(ANCHOR, ([500.0], [0.9]))
    assert math.isnan(out.mean_percent) and out.n_outside == 1
    rep = compare(ANCHOR, ([1900.0 * 0.7], [0.61]))
    assert rep.errors["bd_rate"] == "test curve has 1 points; 4 are needed"
    assert rep.saving.mean_percent == pytest.approx(30.0)
    assert saving_at_equal_quality(ANCHOR, TEST).mean_percent == pytest.approx(34.361, abs=1e-3)


# --- CSVs and `vcm bdrate` ------------------------------------------------------------------------------
def _csv(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(f"{v}" for v in r) + "\n" for r in rows))
    return str(path)


def test_read_rd_table_and_errors(tmp_path):
    t = read_rd_table(_csv(tmp_path / "a.csv", "qp,bpp,map50,map", [(22, 0.5, 0.7, 0.5), (27, 0.3, 0.6, 0.4)]))
    assert t.rate_column == "bpp" and set(t.qualities) == {"map50", "map"} and t.lines == (2, 3)
    pts = read_rd_csv(tmp_path / "a.csv")
    assert [(p.rate, p.quality) for p in pts] == [(0.5, 0.7), (0.3, 0.6)]
    cases = {"nohdr.csv": ("1000,0.5\n", "line 1: the header"), "word.csv": ("rate,quality\n1000,abc\n", "line 2"),
             "neg.csv": ("rate,quality\n-5,0.5\n", "line 2: rate -5 must be > 0"), "empty.csv": ("", "empty"),
             "ragged.csv": ("rate,quality\n1000\n", "line 2 has 1 fields")}
    for name, (text, msg) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(VcmError, match=msg) as e:
            read_rd_table(tmp_path / name)
        assert name in str(e.value) and "\n" not in str(e.value)


def _run(*args):
    from vcm.cli import main

    return CliRunner().invoke(main, ["bdrate", *map(str, args)])


def test_bdrate_cli_readme_example(tmp_path):
    a = _csv(tmp_path / "vvc.csv", "rate,quality", zip(*ANCHOR))
    t = _csv(tmp_path / "dtjrd.csv", "rate,quality", zip(*TEST))
    r = _run(a, t)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("quality: BD-rate (pchip) -34.01%; BD-quality n/a (the curves share 72%")
    assert "points anchor 4->4, test 4->4 (cubic fit), overlap 90%" in lines[0]  # the default fit: a monotone curve keeps its values
    assert lines[1].startswith("quality: BD-rate (akima) -33.93%")
    assert "bit saving at equal accuracy 34.36% (3 test point(s) inside the anchor's range, 1 outside)" in lines[2]
    doc = json.loads(_run(a, t, "--json", "-").output)
    assert doc["quality"]["pchip"]["value"] == pytest.approx(_bj("bd_rate", ANCHOR, TEST, "pchip"), abs=1e-9)


def test_bdrate_cli_errors_name_file_and_line(tmp_path):
    a = _csv(tmp_path / "vvc.csv", "rate,quality", zip(*ANCHOR))
    cases = {"bumpy.csv": (list(zip(*RA_PLAIN)), r"bumpy.csv: line 5: quality 0.239 at rate 63.2 does not rise "
                                                 r"above 0.302 at rate 39.3 \(line 6\): the curve is not monotone"),
             "dup.csv": ([(1000, 0.5), (2000, 0.6), (2000, 0.62), (4000, 0.7)], "dup.csv: line 4: rate 2000 repeats "
                                                                                "line 3"),
             "three.csv": ([(1000, 0.5), (2000, 0.6), (4000, 0.7)], r"three.csv: 3 points \(lines 2-4\); BD needs at "
                                                                   "least 4")}
    for name, (rows, msg) in cases.items():
        r = _run(a, _csv(tmp_path / name, "rate,quality", rows), "--monotone", "none")
        assert r.exit_code == 2, (name, r.output)
        err = r.output.strip().splitlines()
        assert len(err) == 1 and re.search(msg, err[0]), err
        assert "--monotone cubic|isotonic" in err[0]
    # with a fit asked for, the same files give values or n/a with the reason, exit 0
    r = _run(a, tmp_path / "bumpy.csv", "--monotone", "cubic")
    assert r.exit_code == 0 and "test 6->6 (cubic fit)" in r.output and "replaced 6 of 6" in r.output
    r = _run(a, tmp_path / "three.csv", "--monotone", "isotonic")
    assert r.exit_code == 0 and "n/a (test curve has 3 points; 4 are needed)" in r.output


def test_bdrate_cli_reports_map50_and_map(tmp_path):
    a = _csv(tmp_path / "plain.csv", "bpp,map50,map", [(r, q, q * 0.8) for r, q in zip(*ANCHOR)])
    t = _csv(tmp_path / "test.csv", "bpp,map50,map", [(r / 2, q, q * 0.8) for r, q in zip(*ANCHOR)])
    r = _run(a, t)
    assert r.exit_code == 0, r.output
    assert "mAP@0.5: BD-rate (pchip) -50.00%; BD-mAP" in r.output
    assert "mAP@0.5:0.95: BD-rate (akima) -50.00%" in r.output


# --- summary entries, report.md and rd.png --------------------------------------------------------------
def _curve_points():
    from vcm.metrics.rd import CurvePoint

    def cp(curve, r, q):
        return CurvePoint(curve, f"p{r}", None, None, None, 1, 0, 0, r, q, q * 0.8, q, 0.0)

    pts = [cp("plain/vvc", r, q) for r, q in zip(*SET16_PLAIN)]
    pts += [cp("objects/prior", r * 0.5, q) for r, q in zip(*SET16_PLAIN)]
    pts += [cp("frame/prior", r, q) for r, q in zip([0.1535, 0.0968, 0.0576, 0.0345], [0.507, 0.215, 0.400, 0.314])]
    return pts


def test_summary_entries_report_table_and_plot(tmp_path):
    from vcm.metrics.rd import benchmark_bd
    from vcm.metrics.rd import ANCHOR as PLAIN
    from vcm.report import plot_rd, render_report_md, summary_lines

    pts = _curve_points()
    bd = benchmark_bd(pts, PLAIN)
    half = bd["bd_rate"]["objects/prior"]
    assert half["pchip"] == pytest.approx(-50.0, abs=1e-9) and half["verdict"] == "ok"
    assert half["points_used"] == {"anchor": 8, "anchor_after_fit": 8, "test": 8, "test_after_fit": 8}
    fp = bd["bd_rate"]["frame/prior"]
    assert fp["pchip"] is None and fp["verdict"].startswith("unreliable: the curves share")
    summary = {"format": "vcm-benchmark/1", **bd, "pictures": 16, "settings": {}}
    json.dumps(summary)
    lines = summary_lines(summary)
    assert any(ln.startswith("objects/prior (mAP@0.5): BD-rate -50.0% (pchip) / -50.0% (akima) [ok]; points anchor "
                             "8->8, test 8->8 (cubic fit)") for ln in lines)
    assert any(ln.startswith("frame/prior (mAP@0.5): BD-rate n/a (the curves share") for ln in lines)
    md = render_report_md(summary, pts)
    head = md.splitlines()
    assert head[2].startswith("| curve | quality | BD-rate pchip | BD-rate akima |")
    assert "| objects/prior | mAP@0.5 | -50.0% | -50.0% |" in md and "| ok |" in md
    assert "| frame/prior | mAP@0.5:0.95 | n/a | n/a |" in md
    png = tmp_path / "rd.png"
    plot_rd(png, pts, title="test", summary=summary)
    plot_rd(tmp_path / "rd2.png", pts)  # the pipelines' current call: fits computed in the plot
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "rd2.png").stat().st_size > 10000


def test_overlap_text_never_hides_which_side_of_the_rule_it_is_on():
    from vcm.metrics.bdrate import share_text

    assert share_text(0.748) == "74.8%" and share_text(0.75) == "75%" and share_text(0.70) == "70%"
    assert share_text(0.7449) == "74%" and share_text(0.9) == "90%" and share_text(0.74996) == "74.996%"
