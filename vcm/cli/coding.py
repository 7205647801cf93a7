"""`vcm encode`, `vcm decode`, `vcm predict`: JRD-guided coding of pictures. Parses options, calls pipelines/.

No heavy import at module level: `vcm decode` never loads torch or a detector.
"""
from __future__ import annotations

from pathlib import Path

import click

from vcm.codec.base import PRESETS

MODES = ("objects", "frame", "plain", "blur", "ctu")  # vcm.coding.modes.MODES (not imported: keeps --help light)
EXAMPLE_BG_QP = 63


def _write_json(path: str | None, obj) -> None:
    if path:
        from vcm.fsutil import write_json_atomic

        write_json_atomic(path, obj)


@click.command()
@click.argument("picture", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="Output .266 file. Default: PICTURE's name with .266, in the current folder.")
@click.option("--example", is_flag=True, help="Code the bundled example picture (ultralytics' assets/bus.jpg).")
@click.option("--mode", type=click.Choice(MODES), default="objects", show_default=True,
              help="objects: own stream per object at its QP; frame: whole picture at the lowest object QP; "
                   "plain: whole picture at --qp; blur: background blurred, one QP.")
@click.option("--detector", default="hog-person", show_default=True, help="Detector spec (see `vcm detect --help`).")
@click.option("--jrd", "jrd", default="search", show_default=True,
              help="JRD predictor: search (detector in the loop, exact), prior (size table, instant), "
                   "dtjrd:CKPT (trained model), fixed:Q.")
@click.option("--jrd-offset", type=int, default=0, show_default=True, help="Object QP = JRD + offset (clamped).")
@click.option("--bg-qp", type=click.IntRange(0, 63), default=None,
              help="Background QP. [default: 51; 63 with --example]")
@click.option("--qp", type=click.IntRange(0, 63), help="The QP of --mode plain.")
@click.option("--qp-min", type=click.IntRange(0, 63), default=0, show_default=True, help="Lowest object QP allowed.")
@click.option("--margin", type=click.IntRange(0, 4096), default=48, show_default=True,
              help="Pixels of context coded around each box at the object's QP.")
@click.option("--encoder", default="ffmpeg", show_default=True, help="Encoder backend: ffmpeg, vvenc or vtm.")
@click.option("--preset", type=click.Choice(PRESETS), default="faster", show_default=True)
@click.option("--matrix", type=click.Choice(["bt709", "bt601"]), default="bt709", show_default=True)
@click.option("--no-check", is_flag=True, help="Skip decoding the file and re-running the detector.")
@click.option("--no-compare", is_flag=True, help="Skip coding plain VVC at the lowest object QP for the report.")
@click.option("--no-cache", is_flag=True, help="Always run the encoder (skip the encode cache).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the report as JSON.")
@click.option("--intra", is_flag=True, help="Video: objects mode on every frame, all-intra (the paper's setting).")
@click.option("--intra-period", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="Video: frames per segment (one random-access sequence at one QP each).")
@click.option("--detect-every", type=click.IntRange(1, 10000), default=1, show_default=True,
              help="Video: run the detector on every k-th frame; boxes are carried between.")
@click.option("--start", type=click.IntRange(0), default=0, show_default=True, help="Video: first frame coded.")
@click.option("--frames", "max_frames", type=click.IntRange(1), default=None, help="Video: code at most N frames.")
def encode(picture, out, example, mode, detector, jrd, jrd_offset, bg_qp, qp, qp_min, margin, encoder, preset,
           matrix, no_check, no_compare, no_cache, json_path, intra, intra_period, detect_every, start, max_frames):
    """Code a picture for machines: every detected object at its JRD, the background coarser.

    \b
    Examples:
      vcm encode --example                         the bundled bus.jpg -> bus.266, background QP 63
      vcm encode street.jpg -o street.266 --json street.json
      vcm encode street.jpg --jrd prior            instant JRD guess from box size
      vcm encode street.jpg --jrd fixed:40 --bg-qp 55
      vcm encode street.jpg --mode plain --qp 37   the anchor, same report
      vcm encode clip.mp4 -o clip.266 --jrd prior --detect-every 4    a video (modes plain/frame/objects)
      vcm encode clip.mp4 -o clip.266 --intra      objects mode on every frame, all-intra

    \b
    It prints every object (JRD, QP, bytes of its stream), the total bytes and bpp beside plain VVC at
    the lowest object QP, and the check: the written file decoded and detected again, objects still
    detected k/n. The output is one .266 file: standard VVC streams, placement in an SEI (docs/FORMAT.md).
    """
    from pipelines.encode import EncodeSettings, example_picture, format_report, run_encode
    from vcm.errors import VcmError

    if example and picture:
        raise VcmError("give a picture or --example, not both", fix="drop one of them")
    if not example and not picture:
        raise VcmError("no picture given", fix="vcm encode PICTURE -o OUT.266, or vcm encode --example")
    src = example_picture() if example else Path(picture)
    if mode == "plain" and qp is None:
        raise VcmError("--mode plain needs --qp", fix="add --qp Q, e.g. --qp 37")
    if qp is not None and mode != "plain":
        raise VcmError(f"--qp is the QP of --mode plain, not of --mode {mode}",
                       fix="use --jrd fixed:Q to give every object QP Q, or --mode plain")
    if bg_qp is None:  # the demo: HOG finds bus.jpg's people up to QP ~55, so a QP-51 background costs more
        bg_qp = EXAMPLE_BG_QP if example else 51  # than it saves; 63 shows the method (see README.md, vcm encode)
    out = Path(out) if out else Path(src.stem + ".266")
    from pipelines.video import is_video_path

    if is_video_path(src):  # videos: pipelines/video.py (segments, suppression, --intra)
        from pipelines.video import VideoSettings, format_video_report, run_encode_video

        vs = VideoSettings(mode=mode, intra=intra, detector=detector, jrd=jrd, jrd_offset=jrd_offset, bg_qp=bg_qp,
                           qp=qp, qp_min=qp_min, margin=margin, encoder=encoder, preset=preset, matrix=matrix,
                           intra_period=intra_period, detect_every=detect_every, start=start,
                           max_frames=max_frames, check=not no_check, cache=not no_cache)
        vreport = run_encode_video(src, out, vs)
        _write_json(json_path, vreport.to_json())
        click.echo(format_video_report(vreport))
        return
    if intra or start or max_frames or detect_every != 1 or intra_period != 32:
        raise VcmError("--intra, --intra-period, --detect-every, --start and --frames apply to videos only",
                       path=src, fix="drop them for a picture")
    settings = EncodeSettings(mode=mode, detector=detector, jrd=jrd, jrd_offset=jrd_offset, bg_qp=bg_qp, qp=qp,
                              qp_min=qp_min, margin=margin, encoder=encoder, preset=preset, matrix=matrix,
                              check=not no_check, compare_plain=not no_compare, cache=not no_cache)
    report = run_encode(src, out, settings)
    _write_json(json_path, report.to_json())
    click.echo(format_report(report))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="Output picture (.png). Default: FILE's name with .png, in the current folder.")
@click.option("--decoder", default="pyav", show_default=True, help="Decoder backend: pyav, ffmpeg, vvdec or vtm.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write what was decoded as JSON.")
def decode(file, out, decoder, json_path):
    """Decode a file from `vcm encode` (or any plain VVC .266) back to a picture.

    \b
    Example:
      vcm decode bus.266 -o bus.png
      vcm decode clip.266 -o clip.mkv      a video file: lossless FFV1 .mkv (or .y4m), frames and fps kept
      -> bus.png: 810x1080 from 5 streams (background QP 51, 4 objects), 9876 bytes
    Object crops are pasted over the background, the lowest QP on top. Damaged or cut files are refused.
    """
    from pipelines.decode import run_decode
    from vcm.video_container import is_video_file

    if is_video_file(file):  # a vcm video file: back to a video (pipelines/video.py)
        from pipelines.video import run_decode_video

        out = Path(out) if out else Path(Path(file).stem + ".mkv")
        r = run_decode_video(file, out, decoder)
        _write_json(json_path, r)
        click.echo(f"{out}: {r['width']}x{r['height']}, {r['frames']} frames at {r['fps']:g} fps from a {r['mode']} "
                   f"video file ({len(r['units'])} units), {r['bytes']} bytes, {r['seconds']:.2f} s")
        return
    out = Path(out) if out else Path(Path(file).stem + ".png")
    r = run_decode(file, out, decoder)
    _write_json(json_path, r)
    n_obj = len(r["streams"]) - 1
    what = "a plain VVC stream" if r["plain_vvc"] else (
        f"{len(r['streams'])} streams (background QP {r['streams'][0]['qp']}, {n_obj} objects)")
    click.echo(f"{out}: {r['width']}x{r['height']} from {what}, {r['bytes']} bytes, {r['seconds']:.2f} s")


@click.command()
@click.argument("picture", type=click.Path(dir_okay=False))
@click.option("--detector", default="hog-person", show_default=True, help="Detector spec.")
@click.option("--jrd", "jrd", default="prior", show_default=True,
              help="JRD predictor: prior, search, dtjrd:CKPT or fixed:Q.")
@click.option("--bg-qp", type=click.IntRange(0, 63), default=51, show_default=True,
              help="Background QP the search codes around each object (search only).")
@click.option("--margin", type=click.IntRange(0, 4096), default=48, show_default=True,
              help="Context pixels around each box (search only).")
@click.option("--preset", type=click.Choice(PRESETS), default="faster", show_default=True, help="search only.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the predictions as JSON.")
def predict(picture, detector, jrd, bg_qp, margin, preset, json_path):
    """Print every detected object's JRD without coding the picture.

    \b
    Examples:
      vcm predict bus.jpg --jrd prior
      vcm predict bus.jpg --jrd search --json bus_jrd.json
      vcm predict bus.jpg --detector yolo11n.pt --jrd dtjrd:runs/dtjrd/best.pt
    The JRD is the highest VVC QP at which the detector still finds the object (0..63).
    """
    from pipelines.predict import format_predictions, run_predict

    r = run_predict(picture, detector, jrd, bg_qp=bg_qp, margin=margin, preset=preset)
    _write_json(json_path, r)
    click.echo(format_predictions(r))
