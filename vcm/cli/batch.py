"""`vcm batch`: code every picture and video of a folder into a mirrored folder. Parses options, calls
vcm.pipelines.batch; no heavy import at module level."""
from __future__ import annotations

import sys

import click

from vcm.cli.options import coding_options, executor_options, output_option, pop_settings, quiet_option


@click.command("batch")
@click.argument("in_dir", type=click.Path(file_okay=False))
@output_option("Output folder: IN_DIR's tree mirrored (.266 files), manifest.csv, summary.json.", dest="out_dir",
               folder=True, required=True)
@coding_options("mode", "intra", "detector", "conf", "det_iou", "imgsz", "classes", "device", "jrd", "jrd_offset",
                "bg_qp", "qp", "qp_min", "margin", "preset", "encoder", "matrix", "intra_period", "detect_every",
                "max_frames", "check")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Items coded at the same time (processes, or Ray tasks).")
@executor_options
@quiet_option(short=False)
def batch(in_dir, out_dir, workers, executor, ray_address, quiet, **opts):
    """Code every picture and video under IN_DIR into OUT_DIR (tree mirrored, inputs never touched).

    \b
    Examples:
      vcm batch photos/ -o coded/ --workers 2
      -> 4 items: 3 ok, 0 skipped (done before), 1 failed; 8690 bytes (14.5 % less than plain VVC, 10163
         bytes); objects: 26 detected, 9 to keep, 9 still detected, 0 lost; 7.7 s, 23.4 items/min
           failed: broken.png: photos/broken.png: cannot decode the picture (corrupt or unsupported format). ...
      vcm batch dataset/ -o coded/ --jrd prior --no-check      instant JRD guess from box size, unchecked
      vcm batch dataset/ -o coded/ --executor ray --ray-address head:6379 --workers 16

    \b
    OUT_DIR/manifest.csv has one row per input: input, output, status (ok, failed, skipped), bytes,
    plain_bytes (plain VVC at the lowest QP the file uses), saving (per cent), detected (boxes on the
    original), to_keep (of them at the keep score), kept (still detected in the written file: the plan's
    check, or --check), lost, seconds, error; summary.json the totals. It is rewritten after every item,
    so an interrupted run loses nothing: rerun
    the same command and finished items with unchanged inputs and settings are `skipped`. A failed item is
    recorded with its error and the run goes on; the exit code is 1 if any item failed.
    """
    from vcm.pipelines.batch import BatchConfig, format_summary, run_batch
    from vcm.fsutil import guard_outputs, spec_files
    from vcm.safety import check_detector_spec

    guard_outputs(spec_files(opts["detector"], opts["jrd"]), {}, input_folders={"IN_DIR": in_dir},
                  output_folders={"-o": out_dir})
    check_detector_spec(opts["detector"])  # workers build the detector: refuse an unsafe weights file here, once

    cfg = BatchConfig(in_dir, out_dir, pop_settings(opts, compare_plain=False), workers=workers, executor=executor,
                      ray_address=ray_address, progress=not quiet)
    report = run_batch(cfg)
    for line in format_summary(report):
        click.echo(line)
    if report.failed:
        sys.exit(1)
