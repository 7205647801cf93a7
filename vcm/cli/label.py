"""`vcm label`: build a JRD crop dataset (OW-JRD layout) from a folder of pictures. Parses options and
calls vcm.pipelines.label; nothing heavy is imported until the command runs."""
from __future__ import annotations

import shlex
import sys

import click

from vcm.cli.options import (coding_options, detector_options, executor_options, output_option, pop_detector,
                             quiet_option, setting_option, workers_option)
from vcm.cli.numbers import Number


def _fractions(ctx, param, value):
    try:
        parts = tuple(float(v) for v in str(value).split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise click.BadParameter(f"{value!r}: give three fractions train,val,test, e.g. 0.8,0.1,0.1")
    return parts


def _command_line(ctx: click.Context) -> str:
    """The command with every option spelled out (defaults included): it reproduces the run as recorded."""
    args = ["vcm", "label", ctx.params["pictures_dir"]]
    for p in ctx.command.params:
        if not isinstance(p, click.Option) or p.name in ("pictures_dir", "quiet"):
            continue
        v = ctx.params.get(p.name)
        if v is None or v is False:
            continue
        flag = max(p.opts, key=len)
        if v is True:
            args.append(flag)
        else:
            args += [flag, ",".join(f"{x:g}" for x in v) if isinstance(v, tuple) else str(v)]
    return shlex.join(args)


@click.command("label")
@click.argument("pictures_dir", type=click.Path(file_okay=False))
@output_option("Dataset folder (created; a re-run resumes in it).", folder=True, required=True)
@detector_options
@click.option("--qps", default="0-63", show_default=True,
              help="QPs to code: a range LO-HI (every --qp-step-th QP, HI always) or a list 22,27,32.")
@click.option("--qp-step", type=Number(int, 1, 63), default=1, show_default=True, help="Step through a QP range.")
@click.option("--search", type=click.Choice(["smart", "full"]), default="smart", show_default=True,
              help="smart: code only the QPs the label rule needs (same labels); full: code every QP.")
@click.option("--window", type=Number(int, 1, 64), default=8, show_default=True,
              help="Losses shorter than this many probed QPs are noise (the label rule's sliding window).")
@click.option("--match-iou", type=Number(float, 0, 1, min_open=True), default=None,
              help="Still detected = same class and IoU >= this with the original box (and above the picture's false "
                   "boxes of its class). [default: 0.75, the rule encode and benchmark use]")
@coding_options("detect_score", "keep_score",
                help={"keep_score": "Objects to label: score >= this on the original [default: 0.5, or the "
                                    "detector's threshold if higher]; weaker boxes are listed, not labelled."})
@click.option("--gt", type=click.Path(dir_okay=False),
              help="COCO instances json: label its boxes (matched by file name) instead of the detections.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/val/test split by picture.")
@click.option("--split", "split", default="0.8,0.1,0.1", show_default=True, callback=_fractions,
              help="Fractions of pictures for train,val,test.")
@workers_option("Pictures labelled at the same time (processes, or Ray tasks).")
@executor_options
@coding_options("encoder", "preset", "matrix")
@click.option("--bg-qp", type=Number(int, 0, 63), default=None,
              help="Background QP around the object crops [default: the first that vcm encode's --bg-qp auto tries, "
                   "63]: one QP, not auto.")
@setting_option("margin")
@quiet_option
def label(pictures_dir, out, qps, qp_step, search, window, match_iou, detect_score, keep_score, gt, seed, split,
          workers, executor, ray_address, encoder, preset, matrix, bg_qp, margin, quiet, **det_opts):
    """Label objects with their JRD and write an OW-JRD-style dataset for `vcm train`.

    Each picture is coded as `vcm encode --mode objects` codes it, every object crop at each QP asked for over
    the background (the smart search codes only the QPs the rule needs and gives the same labels); an object's
    label is the QP just below the first QP at which the detector loses it for --window QPs in a row (near
    the top a shorter loss counts; a detection at the top QP alone does not end it), checked through the plan
    choice as `vcm encode` checks it: the JRD `vcm predict --jrd search` gives. Objects never lost get the top
    QP; objects lost at the lowest QPs are dropped and counted.

    \b
    Example:
      vcm label pictures/ -o jrd_data --qps 0-63 --workers 2
      vcm label val2017/ -o jrd_coco --detector centernet --gt instances_val2017.json
      vcm label /shared/pics -o /shared/jrd --executor ray --ray-address head:6379 --workers 64
      vcm train jrd_data -o dtjrd.pt --backbone vit-s14 --train head

    \b
    Writes into DATASET_DIR:
      crops/<pic>_<k>/<pic>_<k>.png   object k's box cut from the original picture
      JRD_info.json                   {crop name: JRD}
      train/val/test_names.json       {"names": [...]}, split by picture with --seed
      labels.csv                      every object: box, class, score, JRD, the rule's JRD (before the
                                      check through the plan choice), status, per-QP string
                                      (QP 0..63: 1 detected, 0 lost, ! not codable, . not coded)
      meta.json                       detector + weights hash, encoder + version, rule, QPs, counts
    Re-running the same command skips pictures already labelled. Exit 1 if a picture failed.
    """
    from pathlib import Path

    from vcm.pipelines.label import LabelConfig, run_label
    from vcm import labeling
    from vcm.fsutil import guard_outputs, spec_files
    from vcm.safety import check_detector_spec

    ds = pop_detector(det_opts)
    guard_outputs([gt, *spec_files(ds.detector)], {}, input_folders={"PICTURES_DIR": pictures_dir},
                  output_folders={"-o": out})
    check_detector_spec(ds.detector)  # workers build the detector: refuse an unsafe weights file here, once
    cfg = LabelConfig(pictures=Path(pictures_dir), out=Path(out), detector=ds.detector, detector_options=ds.options(),
                      qps=labeling.parse_qps(qps, qp_step), search=search, window=window, match_iou=match_iou,
                      min_score=detect_score, keep_score=keep_score, encoder=encoder, preset=preset, matrix=matrix,
                      bg_qp=bg_qp, margin=margin,
                      gt=Path(gt) if gt else None, seed=seed, split=split, workers=workers, executor=executor,
                      ray_address=ray_address, progress=not quiet,
                      command=_command_line(click.get_current_context()))
    summary = run_label(cfg)
    click.echo(summary.text())
    if summary.failed:
        sys.exit(1)
