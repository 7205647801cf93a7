"""`vcm encode`, `vcm decode`, `vcm predict`: JRD-guided coding of pictures. Parses options, calls vcm/pipelines/.

No heavy import at module level: `vcm decode` never loads torch or a detector.
"""
from __future__ import annotations

from pathlib import Path

import click

from vcm.cli.options import coding_options, emit, json_option, output_option, pop_settings, quiet_option



@click.command()
@click.argument("picture", required=False, type=click.Path(dir_okay=False))
@output_option("Output .266 file. Default: PICTURE's name with .266, in the current folder.")
@click.option("--example", is_flag=True, help="Code the bundled example picture (ultralytics' assets/bus.jpg).")
@coding_options("mode", "detector", "conf", "det_iou", "imgsz", "classes", "device", "jrd", "jrd_offset", "bg_qp",
                "qp", "qp_min", "margin", "encoder", "preset", "matrix", "check", "compare_plain", "cache",
                help={"check": "Decode the written file and run the detector again (objects still detected k/n).",
                      "compare_plain": "Also code plain VVC at the lowest object QP, for the report."})
@json_option("the report")
@click.option("--draw", "draw_path", type=click.Path(),
              help="Also write the written file, decoded, with every object's box, label, score, JRD and QP, "
                   "coloured by whether it still shows it (green: still detected, red: lost, orange: not checked with "
                   "--no-check, grey: not kept). A video: a folder, one frame_NNNN.png per detected frame.")
@coding_options("intra", "intra_period", "detect_every", "start", "max_frames")
@quiet_option(short=False)
def encode(picture, out, example, json_path, draw_path, quiet, **opts):
    """Code a picture for machines: every detected object at its JRD, the background coarser.

    \b
    Examples:
      vcm encode --example                         the bundled bus.jpg -> bus.266, background QP 63
      vcm encode street.jpg -o street.266 --json street.json
      vcm encode street.jpg --jrd prior            instant JRD guess from box size
      vcm encode street.jpg --jrd fixed:40 --bg-qp 55
      vcm encode street.jpg --mode plain --qp 37   the anchor, same report
      vcm encode street.jpg --draw street_objects.png   and what happened to each object, drawn
      vcm encode clip.mp4 -o clip.266 --detect-every 4    a video (the prior's JRDs; auto: per segment the
                                                   cheapest candidate the detector still reads; plain/frame/objects/ctu)
      vcm encode clip.mp4 -o clip.266 --intra      objects mode on every frame, all-intra

    \b
    It prints every object (JRD, QP, bytes of its stream), the total bytes and bpp beside plain VVC at
    the lowest object QP, and the check: the written file decoded and detected again, objects still
    detected k/n. The output is one .266 file: standard VVC streams, placement in an SEI (docs/FORMAT.md).
    """
    from vcm.pipelines.encode import example_picture, format_report, run_encode
    from vcm.errors import VcmError

    if example and picture:
        raise VcmError("give a picture or --example, not both", fix="drop one of them")
    if not example and not picture:
        raise VcmError("no picture given", fix="vcm encode PICTURE -o OUT.266, or vcm encode --example")
    src = example_picture() if example else Path(picture)
    settings = pop_settings(opts)
    out = Path(out) if out else Path(src.stem + ".266")
    from vcm.fsutil import guard_outputs, spec_files

    guard_outputs([src, *spec_files(settings.detector, settings.jrd)], {"-o": out, "--json": json_path,
                                                                      "--draw": draw_path})
    from vcm.pipelines.video import is_video_path

    from vcm.media import PICTURE_EXTS

    if draw_path and (Path(draw_path).exists() and Path(draw_path).is_dir() != is_video_path(src)
                      or is_video_path(src) and Path(draw_path).suffix.lower() in PICTURE_EXTS):
        raise VcmError("--draw takes a folder for a video (one picture per detected frame) and a picture file for a "
                       "picture", path=draw_path, fix="name a new folder for a video, a .png for a picture")
    if is_video_path(src):  # videos: vcm/pipelines/video.py (segments, suppression, --intra)
        from vcm.pipelines.video import format_video_report, run_encode_video

        import sys

        vreport = run_encode_video(src, out, settings, progress=sys.stderr.isatty() and not quiet,
                                   draw=draw_path)
        emit(json_path, vreport.to_json(), format_video_report(vreport))
        return
    if settings.video_only_given():
        raise VcmError("--intra, --intra-period, --detect-every, --start and --frames apply to videos only",
                       path=src, fix="drop them for a picture")
    report = run_encode(src, out, settings)
    if draw_path:  # on the written file, decoded: what the machine gets
        from vcm.detect.draw import draw_coded_objects
        from vcm.media import write_picture
        from vcm.pipelines.decode import run_decode

        write_picture(draw_path, draw_coded_objects(run_decode(out, None).picture, report.objects))
        if not report.objects:
            click.echo(f"warning: {settings.detector} found no object in {src}: {draw_path} shows the picture only",
                       err=True)
    emit(json_path, report.to_json(), format_report(report))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@output_option("Output picture (.png). A video file: .mkv (lossless), .y4m, or a frame pattern such as f_%04d.png "
               "(one picture a frame). Default: FILE's name with .png (.mkv for a video file).")
@click.option("--decoder", default="pyav", show_default=True, help="Decoder backend: pyav, ffmpeg, vvdec or vtm.")
@json_option("what was decoded")
def decode(file, out, decoder, json_path):
    """Decode a file from `vcm encode` (or any plain VVC .266) back to a picture.

    \b
    Example:
      vcm decode bus.266 -o bus.png
      vcm decode clip.266 -o clip.mkv      a video file: lossless FFV1 .mkv (or .y4m), frames and fps kept
      vcm decode clip.266 -o f_%04d.png    a video file as one picture a frame: f_0000.png, f_0001.png, ...
      -> bus.png: 810x1080 from 5 streams (background QP 51, 4 objects), 9876 bytes
    Object crops are pasted over the background, the lowest QP on top. Damaged or cut files are refused.
    """
    from vcm.fsutil import guard_outputs
    from vcm.pipelines.decode import format_decode_report, run_decode
    from vcm.video_container import is_video_file

    if is_video_file(file):  # a vcm video file: back to a video (vcm/pipelines/video.py)
        from vcm.pipelines.video import run_decode_video

        out = Path(out) if out else Path(Path(file).stem + ".mkv")
        guard_outputs([file], {"-o": out, "--json": json_path})
        r = run_decode_video(file, out, decoder)
        emit(json_path, r.to_json(), format_decode_report(r))
        return
    out = Path(out) if out else Path(Path(file).stem + ".png")
    from vcm.media import PICTURE_EXTS

    if out.suffix.lower() not in PICTURE_EXTS or "%" in out.name:
        from vcm.errors import VcmError

        what = "a frame pattern is for video files" if "%" in out.name else \
            f"{out.suffix or 'no extension'} is not a picture type"
        raise VcmError(f"{file} holds a picture; {what}", path=out,
                       fix="write .png (or .jpg, .bmp, .tif); .mkv/.y4m/f_%04d.png are for video files (all pictures "
                           "of a plain VVC stream: vcm vvc decode FILE -o f_%04d.png)")
    guard_outputs([file], {"-o": out, "--json": json_path})
    r = run_decode(file, out, decoder)
    emit(json_path, r.to_json(), format_decode_report(r))


@click.command()
@click.argument("picture", type=click.Path(dir_okay=False))
@coding_options("detector", "conf", "det_iou", "imgsz", "classes", "device", "jrd", "bg_qp", "margin", "encoder",
                "preset", "keep_score", "detect_score",
                help={"bg_qp": "Background QP the search codes around each object (search only).",
                      "margin": "Context pixels around each box (search only).", "preset": "search only."})
@json_option("the predictions")
def predict(picture, json_path, **opts):
    """Print every detected object's JRD without coding the picture.

    \b
    Examples:
      vcm predict bus.jpg --jrd prior
      vcm predict bus.jpg --jrd search --json bus_jrd.json
      vcm predict bus.jpg --detector centernet --jrd dtjrd:dtjrd.pt
    The JRD is the highest VVC QP at which the detector still finds the object (0..63). Objects scoring under
    the keep score are listed without a JRD (`vcm encode` codes them with the background); `--jrd search` gives
    each object the JRD `vcm encode --jrd search` and `vcm label` give it.
    """
    from vcm.fsutil import guard_outputs, spec_files
    from vcm.pipelines.predict import format_predictions, run_predict

    settings = pop_settings(opts, check=False, compare_plain=False)
    guard_outputs([picture, *spec_files(settings.detector, settings.jrd)], {"--json": json_path})
    r = run_predict(picture, settings)
    emit(json_path, r.to_json(), format_predictions(r))
