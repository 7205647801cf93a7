"""`vcm map` (COCO mAP of predictions against ground truth) and `vcm bdrate` (Bjontegaard deltas)."""
from __future__ import annotations

import json
import math
import warnings

import click

from vcm.cli.numbers import Number


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
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (with per-class AP).")
def map_cmd(gt_path, pred_path, match, max_dets, as_json):
    """COCO mAP@0.5 and mAP@0.5:0.95 of predictions against ground truth (pycocotools).

    \b
    Example (pseudo ground truth: detections on the originals are the truth):
      vcm detect bus.jpg --coco gt.json
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
    res = evaluate_map(gt, pred, match=match, max_dets=max_dets)
    if as_json:
        click.echo(json.dumps(res.to_json(), indent=2))
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
@click.argument("test_csv", type=click.Path(dir_okay=False))
@click.option("--method", type=click.Choice(["pchip", "akima"]), default="pchip", show_default=True,
              help="Interpolation: pchip (JVET CTC sheet) or akima.")
@click.option("--monotone", type=click.Choice(["error", "fit"]), default="error", show_default=True,
              help="A curve whose quality does not rise with rate: stop with the offending points, or use "
                   "its isotonic (monotone) fit.")
@click.option("--min-overlap", type=Number(float, 0, 1), default=0.75, show_default=True,
              help="Warn when the curves share less than this fraction of their range.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bdrate(anchor_csv, test_csv, method, monotone, min_overlap, as_json):
    """Bjontegaard delta rate and quality between two RD curves, and the bit saving at equal accuracy.

    \b
    Each CSV has the header rate,quality and one row per point (rate in bits, bpp or kbps, the same in
    both files; quality mAP or PSNR); BD needs at least 4 points per curve.
    \b
    Example:
      vcm bdrate vvc.csv dtjrd.csv
      BD-rate (pchip): -34.008%
      BD-quality (pchip): +0.0425
      Bit saving at equal accuracy: 34.361% (mean of 3 test point(s) inside the anchor's quality range; ...)
    (vvc.csv: 1000,0.52 1900,0.61 3600,0.68 7000,0.72; dtjrd.csv: 700,0.53 1400,0.62 2600,0.69 5200,0.73)
    \b
    Negative BD-rate = the test needs fewer bits for the same quality. The equal-accuracy saving compares
    each test point with the anchor's rate interpolated at the same quality (works with one test point).
    """
    from vcm.metrics.bdrate import compare, read_rd_csv

    anchor = read_rd_csv(anchor_csv)
    test = read_rd_csv(test_csv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlap warnings are in the report
        rep = compare(anchor, test, method, monotone=monotone, min_overlap=min_overlap)
    if as_json:
        click.echo(json.dumps(rep.to_json(), indent=2))
        return
    for note in rep.notes:
        click.echo(f"note: {note}", err=True)
    for w in rep.warnings:
        click.echo(f"warning: {w}", err=True)
    if "bd_rate" in rep.errors:
        click.echo(f"BD-rate ({method}): undefined ({rep.errors['bd_rate']})")
    else:
        click.echo(f"BD-rate ({method}): {rep.bd_rate_percent:.3f}%")
    if "bd_quality" not in rep.errors:
        click.echo(f"BD-quality ({method}): {rep.bd_quality:+.4f}")
    s = rep.saving
    if s is None or math.isnan(s.mean_percent):
        click.echo("Bit saving at equal accuracy: undefined (no test point lies inside the anchor's quality range)")
    else:
        extra = f"; {s.n_outside} outside, not counted" if s.n_outside else ""
        click.echo(f"Bit saving at equal accuracy: {s.mean_percent:.3f}% (mean of {len(s.points)} test point(s) "
                   f"inside the anchor's quality range{extra})")
