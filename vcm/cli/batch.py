"""`vcm batch`: code every picture and video of a folder into a mirrored folder. Parses options, calls
pipelines.batch; no heavy import at module level."""
from __future__ import annotations

import sys

import click

from vcm.cli.numbers import Number
from vcm.codec.base import PRESETS


@click.command("batch")
@click.argument("in_dir", type=click.Path(file_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: IN_DIR's tree mirrored (.266 files), manifest.csv, summary.json.")
@click.option("--mode", type=click.Choice(["objects", "frame", "plain"]), default="objects", show_default=True,
              help="Coding mode for pictures and videos (see `vcm encode --help`).")
@click.option("--intra", is_flag=True, help="Videos: objects mode on every frame, all-intra.")
@click.option("--detector", default="hog-person", show_default=True, help="Detector spec.")
@click.option("--jrd", default="prior", show_default=True,
              help="JRD predictor: prior (instant), search (exact, slow), dtjrd:CKPT, fixed:Q.")
@click.option("--jrd-offset", type=Number(int, -63, 63), default=0, show_default=True, help="Object QP = JRD + offset.")
@click.option("--bg-qp", type=click.IntRange(0, 63), default=51, show_default=True, help="Background QP.")
@click.option("--qp", type=click.IntRange(0, 63), help="The QP of --mode plain.")
@click.option("--margin", type=click.IntRange(0, 4096), default=48, show_default=True,
              help="Pixels of context coded around each box.")
@click.option("--preset", type=click.Choice(PRESETS), default="faster", show_default=True)
@click.option("--encoder", default="ffmpeg", show_default=True, help="Encoder backend.")
@click.option("--intra-period", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="Videos: frames per segment.")
@click.option("--detect-every", type=click.IntRange(1), default=1, show_default=True,
              help="Videos: run the detector on every k-th frame.")
@click.option("--frames", "max_frames", type=click.IntRange(1), default=None, help="Videos: at most N frames each.")
@click.option("--check", is_flag=True, help="Decode every output and run the detector again (twice the time).")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Items coded at the same time (processes, or Ray tasks).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this machine; ray: Ray tasks (pip install 'vcm[ray]').")
@click.option("--ray-address", default=None,
              help="Address of a running Ray cluster (host:port or ray://...). Default: start a local Ray.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def batch(in_dir, out_dir, mode, intra, detector, jrd, jrd_offset, bg_qp, qp, margin, preset, encoder,
          intra_period, detect_every, max_frames, check, workers, executor, ray_address, quiet):
    """Code every picture and video under IN_DIR into OUT_DIR (tree mirrored, inputs never touched).

    \b
    Examples:
      vcm batch photos/ -o coded/ --workers 2
      -> 4 items: 3 ok, 0 skipped (done before), 1 failed; 8690 bytes, 26 objects, 7.7 s, 23.4 items/min
           failed: broken.png: photos/broken.png: cannot decode the picture (corrupt or unsupported format). ...
      vcm batch dataset/ -o coded/ --jrd search --check          slower, exact JRD, checked
      vcm batch dataset/ -o coded/ --executor ray --ray-address head:6379 --workers 16

    \b
    OUT_DIR/manifest.csv has one row per input: input, output, status (ok, failed, skipped), bytes,
    objects, seconds, error. It is rewritten after every item, so an interrupted run loses nothing: rerun
    the same command and finished items with unchanged inputs and settings are `skipped`. A failed item is
    recorded with its error and the run goes on; the exit code is 1 if any item failed.
    """
    from pipelines.batch import BatchConfig, format_summary, run_batch
    from vcm.fsutil import guard_outputs, spec_files

    guard_outputs(spec_files(detector, jrd), {}, input_folders={"IN_DIR": in_dir}, output_folders={"-o": out_dir})
    from vcm.safety import check_detector_spec

    check_detector_spec(detector)  # workers build the detector: refuse an unsafe weights file here, once

    cfg = BatchConfig(in_dir, out_dir, mode=mode, intra=intra, detector=detector, jrd=jrd, jrd_offset=jrd_offset,
                      bg_qp=bg_qp, qp=qp, margin=margin, encoder=encoder, preset=preset, intra_period=intra_period,
                      detect_every=detect_every, max_frames=max_frames, check=check, workers=workers,
                      executor=executor, ray_address=ray_address, progress=not quiet)
    summary = run_batch(cfg)
    for line in format_summary(summary):
        click.echo(line)
    if summary["failed"]:
        sys.exit(1)
