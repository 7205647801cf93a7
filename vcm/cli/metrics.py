"""`vcm map` (COCO mAP of predictions against ground truth) and `vcm bdrate` (Bjontegaard deltas)."""
from __future__ import annotations

import math

import click

from vcm.cli.options import emit, json_option
from vcm.cli.numbers import Number
from vcm.metrics.bdrate import MIN_OVERLAP
from vcm.metrics.curvefit import FITS
from vcm.settings import DEFAULT_FIT


def _num(v: float, fmt: str) -> str:
    return "undefined" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


@click.command("map")
@click.option("--gt", "gt_path", required=True, type=click.Path(dir_okay=False),
              help="Ground truth: COCO instances JSON, or a `vcm detect --json` file (taken as pseudo ground truth).")
@click.option("--pred", "pred_path", required=True, type=click.Path(dir_okay=False),
              help="Predictions: a `vcm detect --json` file or COCO results JSON.")
@click.option("--match", type=click.Choice(["name", "order"]), default="name", show_default=True,
              help="Pair predicted and ground-truth pictures by file name, or by position (coded copies "
                   "with other names).")
@click.option("--max-dets", type=Number(int, 1), default=100, show_default=True, help="Boxes per picture counted (COCO: 100).")
@json_option("the result (with per-class AP)")
def map_cmd(gt_path, pred_path, match, max_dets, json_path):
    """COCO mAP@0.5 and mAP@0.5:0.95 of predictions against ground truth (pycocotools).

    \b
    Example (pseudo ground truth: detections on the originals are the truth):
      vcm detect bus.jpg --coco-gt gt.json
      vcm vvc encode bus.jpg -q 47 -o q47.266 && vcm vvc decode q47.266 -o q47.png
      vcm detect q47.png --json q47_det.json
      vcm map --gt gt.json --pred q47_det.json --match order
    \b
    Output: mAP@0.5, mAP@0.5:0.95 (0..1; 1.0 = every box found again at the same place), the counts,
    and AP per class. With no ground-truth box at all, mAP is undefined.
    """
    from vcm.metrics.map import evaluate_map, load_ground_truth, load_predictions

    gt = load_ground_truth(gt_path)
    pred = load_predictions(pred_path)
    res = evaluate_map(gt, pred, match=match, max_dets=max_dets, pred_path=pred_path)
    if json_path:
        emit(json_path, res.to_json())
        if json_path == "-":
            return
    click.echo(f"mAP@0.5:      {_num(res.map50, '.4f')}")
    click.echo(f"mAP@0.5:0.95: {_num(res.map50_95, '.4f')}")
    click.echo(f"pictures {res.n_images}, ground-truth boxes {res.n_gt}, predicted boxes {res.n_pred}")
    for name, c in sorted(res.per_class.items()):
        if c.n_gt or c.n_pred:
            click.echo(f"  {name:<16} AP@0.5 {_num(c.ap50, '.4f'):>9}  AP@0.5:0.95 {_num(c.ap50_95, '.4f'):>9}"
                       f"  gt {c.n_gt}  pred {c.n_pred}")


@click.command("bdrate")
@click.argument("anchor_csv", type=click.Path(dir_okay=False))
@click.argument("test_csv", type=click.Path(dir_okay=False), required=False)
@click.option("--curve", default=None,
              help="The test curve of a CSV that holds several (`vcm benchmark`'s curves.csv): its name (objects/prior) "
                   "or its mode when unique.")
@click.option("--anchor-curve", default="plain", show_default=True,
              help="The anchor curve of such a CSV (plain: plain VVC, the benchmark's anchor).")
@click.option("--monotone", type=click.Choice(FITS), default=DEFAULT_FIT, show_default=True,
              help="The fit of a curve that is not monotone (the same default as `vcm benchmark`): cubic: MPEG VCM's "
                   "rising, concave cubic in log10(rate) replaces the measured values; isotonic: pool adjacent "
                   "violators (merges points); none: a non-monotone curve, duplicate rates or too few points stop "
                   "with the file and line.")
@click.option("--min-overlap", type=Number(float, 0, 1), default=MIN_OVERLAP, show_default=True,
              help="Below this shared fraction of the range a delta is n/a.")
@json_option("the results")
def bdrate(anchor_csv, test_csv, curve, anchor_curve, monotone, min_overlap, json_path):
    """Bjontegaard delta rate (pchip and akima) and quality between two RD curves, and the bit saving at equal
    accuracy.

    \b
    Each CSV has a rate column (rate, bpp, kbps, bits or bytes; the same unit in both) and a quality column
    (quality, map50 = mAP@0.5, map50_95 or map = mAP@0.5:0.95, or psnr); with both mAPs each is reported. mAP
    is a fraction 0..1 (percent values are read as percent, with a note). BD needs at least 4 points per curve
    (after the fit) and 75 % overlap; otherwise the value is n/a with the reason. A `vcm benchmark` report's
    curves.csv holds every curve: pick the test one with --curve (the anchor is plain VVC); TEST_CSV defaults
    to ANCHOR_CSV.
    \b
    Examples:
      vcm bdrate vvc.csv dtjrd.csv
      quality: BD-rate (pchip) -34.01%; BD-quality n/a (...); points anchor 4->4, test 4->4 (cubic fit), overlap 90%
      quality: BD-rate (akima) -33.93%; ...
      quality: bit saving at equal accuracy 34.36% (3 test points inside the anchor's range, 1 outside)
      vcm bdrate report/curves.csv --curve objects/prior
      vcm bdrate vvc.csv dtjrd.csv --monotone none      stop at a non-monotone curve instead of fitting it
    \b
    Negative BD-rate = the test needs fewer bits for the same quality. Exit 2 (one line naming file and line)
    for a bad CSV, or, with --monotone none, a non-monotone curve, duplicate rates or fewer than 4 points.
    """
    from vcm.errors import VcmError
    from vcm.metrics.bdrate import bd_compare_methods, check_curve, compare, read_rd_curve

    (anchor, notes_a), (test, notes_t) = (read_rd_curve(anchor_csv, default=anchor_curve),
                                          read_rd_curve(test_csv or anchor_csv, curve))
    if test_csv is None and anchor.curves == test.curves:
        raise VcmError("the anchor and the test are the same curve", path=anchor.path,
                       fix="give TEST_CSV, or pick the test curve with --curve")
    for note in dict.fromkeys(notes_a + notes_t):
        click.echo(f"note: {note}", err=True)
    columns = [c for c in anchor.qualities if c in test.qualities]
    if not columns:
        raise VcmError(f"no quality column in common with {anchor.path} (it has {','.join(anchor.qualities)}, "
                       f"this one {','.join(test.qualities)})", path=test.path, fix="use the same column names")
    if "map50" in columns or "map" in columns:
        columns = [c for c in columns if c in ("map50", "map")] or columns
    else:
        columns = columns[:1]
    if monotone == "none":
        for t in (anchor, test):
            for c in columns:
                check_curve(t, c)
    out = {}
    for c in columns:
        name = {"map50": "mAP@0.5", "map": "mAP@0.5:0.95"}.get(c, c)
        qn = "mAP" if c in ("map50", "map") else "quality"
        res = bd_compare_methods(anchor.curve(c), test.curve(c), monotone=monotone, min_overlap=min_overlap,
                                 quality_name=qn)
        rep = compare(anchor.curve(c), test.curve(c), "pchip", monotone=monotone, min_overlap=min_overlap)
        out[c] = (name, res, rep.saving, rep.errors.get("saving"))
    if json_path:
        emit(json_path, {c: {"name": n, **{m: r.to_json() for m, r in res.items()},
                             "saving_at_equal_quality": s.to_json() if s else None, "saving_error": e}
                         for c, (n, res, s, e) in out.items()})
        if json_path == "-":
            return
    for c, (name, res, s, err) in out.items():
        for r in res.values():
            click.echo(f"{name}: {r.format()}")
        for note in res["pchip"].notes:
            click.echo(f"note: {name}: {note}", err=True)
        if s is None or math.isnan(s.mean_percent):
            why = err or "no test point lies inside the anchor's quality range"
            click.echo(f"{name}: bit saving at equal accuracy n/a ({why})")
        else:
            extra = f", {s.n_outside} outside" if s.n_outside else ""
            click.echo(f"{name}: bit saving at equal accuracy {s.mean_percent:.2f}% ({len(s.points)} test point(s) "
                       f"inside the anchor's range{extra})")
