"""`vcm benchmark`: bits saved against plain VVC at equal detection accuracy. Parses options, calls
pipelines.benchmark; torch/ultralytics load only inside the command, and only if a predictor needs them."""
from __future__ import annotations

import click

from vcm.cli.numbers import Number
from vcm.codec.base import PRESETS
from vcm.errors import VcmError


def _ints(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(int(v) for v in str(value).replace(" ", "").split(",") if v != "")
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of whole numbers (e.g. 22,27,32)") from None


def _words(ctx, param, value):
    if value is None:
        return None
    return tuple(v.strip() for v in str(value).split(",") if v.strip())


@click.command("benchmark")
@click.argument("data", type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="Report folder: points.csv, curves.csv, summary.json, report.md, rd.png (a rerun resumes here).")
@click.option("--gt", type=click.Path(dir_okay=False),
              help="COCO instances json for the pictures (matched by file name). Default: the detections on the "
                   "originals are the ground truth (pseudo ground truth).")
@click.option("--detector", default=None, help="Detector spec (default hog-person: offline, no weights).")
@click.option("--jrd", default="search,prior", show_default=True, callback=_words,
              help="JRD predictors, comma-separated: search (the oracle), prior, dtjrd:CKPT, fixed:Q.")
@click.option("--qps", default="22,27,32,37,42,47", show_default=True, callback=_ints,
              help="QPs of the plain VVC anchor.")
@click.option("--offsets", default="-8,-4,0,4", show_default=True, callback=_ints,
              help="Offsets added to every object's JRD: one RD point each.")
@click.option("--modes", default="plain,frame,objects", show_default=True, callback=_words,
              help="Coding modes: plain (always run, the anchor), frame, objects, blur.")
@click.option("--bg-qps", default=None, callback=_ints,
              help="Background QPs for objects mode (one RD point per offset and bg QP). Default: 51.")
@click.option("--preset", type=click.Choice(PRESETS), default="faster", show_default=True)
@click.option("--encoder", default="ffmpeg", show_default=True, help="Encoder backend: ffmpeg, vvenc or vtm.")
@click.option("--decoder", default="pyav", show_default=True, help="Decoder backend: pyav, ffmpeg, vvdec or vtm.")
@click.option("--margin", type=Number(int, 0, 4096), default=None, help="Pixels of context around each object box (default 16).")
@click.option("--iou", type=Number(float, 0, 1, min_open=True), default=0.5, show_default=True,
              help="IoU of the still-detected rule (the kept fraction column).")
@click.option("--workers", type=Number(int, 1, 1024), default=1, show_default=True, help="Processes, one picture each at a time.")
@click.option("--limit", type=Number(int, 1), default=None, help="Only the first N pictures (sorted by name).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--frames", type=click.IntRange(1), default=32, show_default=True,
              help="Videos: frames coded from the start of each video.")
@click.option("--sample", type=click.IntRange(1), default=4, show_default=True,
              help="Videos: every k-th frame (and the last) is detected for mAP.")
@click.option("--intra-period", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="Videos: frames per segment.")
@click.option("--intra", is_flag=True, help="Videos: also the all-intra objects mode (`vcm encode --intra`).")
def benchmark(data, out, gt, detector, jrd, qps, offsets, modes, bg_qps, preset, encoder, decoder, margin, iou,
              workers, limit, quiet, frames, sample, intra_period, intra):
    """Bits saved against plain VVC at equal detection accuracy, over a folder of pictures.

    Plain VVC at each QP is the anchor; each JRD mode gives one RD point per predictor and offset. Per
    point: bits, bpp, mAP@0.5, mAP@0.5:0.95 (one COCO evaluation over all pictures), fraction of the
    original detections still found, encode time. BD-rate (pchip and akima) of every curve against plain
    VVC on bpp vs mAP@0.5. `search` is the oracle (the detector in the loop): the upper bound of prediction.

    \b
    Example:
      vcm benchmark pictures/ -o report --jrd search,prior --qps 22,27,32,37,42,47 --offsets -8,-4,0,4
      ...
      objects/search: BD-rate <x>% (pchip) vs plain VVC      (negative: fewer bits at equal mAP@0.5)

    \b
    Writes into REPORT_DIR:
      points.csv       one row per picture x mode x predictor x point (bytes, bpp, kept, time)
      curves.csv       one row per RD point over the set (bpp, mAP@0.5, mAP@0.5:0.95)
      detections.json  detections on every original and decoded picture (summary recomputes from it)
      summary.json     BD-rates, saving at equal mAP, settings, versions, machine
      report.md, rd.png  the table and the bpp vs mAP@0.5 plot
    An interrupted run resumes: rerun the same command (finished points are read from REPORT_DIR/.work).

    \b
    DATA may also be a video or a folder of videos: the first --frames frames are coded, plain
    random-access VVC at each QP is the anchor, modes frame and objects (and --intra) give one point per
    offset, mAP@0.5 over every --sample-th frame (pseudo ground truth), BD-rate per mode:
      vcm benchmark clip.mp4 -o report --jrd prior --frames 32 --sample 4 --intra
    """
    from pipelines.benchmark import BenchmarkConfig, format_summary, run_benchmark
    from vcm.fsutil import guard_outputs, spec_files

    guard_outputs([gt, *spec_files(detector, *(jrd or ()))], {}, input_folders={"DATA": data},
                  output_folders={"-o": out})
    from vcm.safety import check_detector_spec

    check_detector_spec(detector)  # workers build the detector: refuse an unsafe weights file here, once

    if iou is not None and not 0.0 < iou <= 1.0:
        raise VcmError(f"--iou {iou} is outside (0, 1]", fix="use e.g. --iou 0.5")
    cfg = BenchmarkConfig(data=data, out=out, gt=gt, detector=detector, jrd=jrd, qps=qps, offsets=offsets,
                          modes=modes, bg_qps=bg_qps or (), preset=preset, encoder=encoder, decoder=decoder,
                          margin=margin, iou=iou, workers=workers, limit=limit, progress=not quiet)
    from pathlib import Path

    from pipelines.video import has_videos_only

    if has_videos_only(Path(data)):  # a video, or a folder of videos: pipelines/video.py
        from pipelines.video import run_video_benchmark

        vmodes = [m for m in cfg.modes if m != "plain"] + (["intra"] if intra else [])
        summary = run_video_benchmark(cfg, click.echo, frames=frames, sample=sample, intra_period=intra_period,
                                      modes=vmodes)
    else:
        summary = run_benchmark(cfg)
    for line in format_summary(summary):
        click.echo(line)
