"""`vcm vvc encode|decode`: plain VVC, the anchor. No torch, no detector: starts fast."""
from __future__ import annotations

import click

from vcm.cli.numbers import Number
from vcm.cli.options import decoder_option, json_option, output_option, setting_option


def _size(option: str, value: str | None, src: str):
    """WIDTHxHEIGHT -> (w, h); the error names the option and the file it is for."""
    if value is None:
        return None
    from vcm.errors import VcmError
    from vcm.media import parse_size

    try:
        return parse_size(value)
    except VcmError as e:
        raise VcmError(f"{option} {e}", path=src) from None


@click.group()
def vvc():
    """Plain VVC coding: the anchor every saving is measured against.

    \b
    Examples:
      vcm vvc encode bus.jpg -q 37 -o bus_q37.266 --json bus_q37.json
      vcm vvc encode clip.y4m -q 32 --ra -o clip.266
      vcm vvc decode bus_q37.266 -o bus_q37.png
    """


@vvc.command("encode")
@click.argument("src", type=click.Path(dir_okay=False))
@setting_option("qp", required=True, help="QP 0..63; the QP in the bitstream (checked in the log).")
@output_option("Output Annex-B .266 file.", required=True)
@setting_option("encoder", help="Backend: ffmpeg (libvvenc), vvenc or vtm.")
@setting_option("preset")
@click.option("--intra/--ra", "intra", default=None,
              help="All-intra or random access. Default: all-intra for pictures, random access for video.")
@setting_option("intra_period", help="Random access intra period (frames).")
@click.option("--qpa", is_flag=True, help="Enable perceptual QP adaptation (off by default: QP means QP).")
@click.option("--threads", type=Number(int, 0, 1024), default=None, help="Encoder threads [default: the encoder's "
                                                                             "own choice (0)].")
@click.option("--size", help="WIDTHxHEIGHT of a raw .yuv input.")
@click.option("--pix-fmt", type=click.Choice(["yuv420p", "yuv420p10le"]), help="Raw .yuv sample format.")
@click.option("--fps", type=Number(float, 0, 1000, min_open=True), help="Frame rate (raw .yuv; overrides the file's).")
@setting_option("max_frames", help="Code only the first N frames.")
@setting_option("matrix", help="RGB -> YUV matrix (limited range, 10-bit 4:2:0); the same for every backend.")
@setting_option("cache", help="Reuse an identical earlier encode (the content-addressed cache); --no-cache always "
                              "runs the encoder.")
@json_option("the full EncodeResult")
def vvc_encode(src, qp, out, encoder, preset, intra, intra_period, qpa, threads, size, pix_fmt, fps, max_frames,
               matrix, cache, json_path):
    """Code a picture, raw YUV, Y4M or video file at one QP.

    \b
    Example:
      vcm vvc encode bus.jpg -q 37 -o bus_q37.266
      -> bus_q37.266: 43996 bytes, 0.4023 bpp, Y-PSNR 29.89 dB (QP 37, ffmpeg libvvenc, faster)
    Pictures are coded all-intra; video random access unless --intra. Odd sizes are padded to even; the
    true size travels in an SEI (any decoder ignores it) and `vcm vvc decode` / `vcm decode` crop back to it.
    """
    from vcm.pipelines.vvc import encode_file
    from vcm.codec import EncodeParams
    from vcm.fsutil import guard_outputs
    from vcm.media import PICTURE_EXTS

    guard_outputs([src], {"-o": out, "--json": json_path})
    size = _size("--size", size, src)

    from pathlib import Path

    is_picture = Path(src).suffix.lower() in PICTURE_EXTS
    params = EncodeParams(qp=qp, preset=preset, intra=is_picture if intra is None else intra,
                          intra_period=intra_period, qpa=qpa, threads=threads or 0)
    res = encode_file(src, out, params, encoder=encoder, size=size, pix_fmt=pix_fmt, fps=fps, matrix=matrix,
                      max_frames=max_frames, cache=cache, json_path=None if json_path == "-" else json_path)
    if json_path == "-":
        from vcm.cli.options import emit

        emit("-", res.to_json())
        return
    rate = f"{res.bpp:.4f} bpp" if res.frames == 1 else f"{res.kbps:.1f} kbps, {res.frames} frames"
    click.echo(f"{out}: {res.bytes} bytes, {rate}, Y-PSNR {res.psnr:.2f} dB "
               f"(QP {qp}, {res.backend_version}, {preset}{', cached' if res.cached else ''})")
    disp = res.params.get("display")
    if disp and tuple(disp) != (res.width, res.height):
        click.echo(f"note: coded as {res.width}x{res.height} (padded to even); `vcm vvc decode` restores "
                   f"{disp[0]}x{disp[1]} from the stream's size SEI (other decoders: crop to it)")


@vvc.command("decode")
@click.argument("src", type=click.Path(dir_okay=False))
@output_option("OUT.png (first picture; use %d for all), OUT.y4m (10-bit) or OUT.mkv (lossless FFV1).",
               required=True)
@decoder_option
@click.option("--crop", help="WIDTHxHEIGHT to crop back to (odd-sized originals).")
@setting_option("matrix", help="YUV -> RGB matrix (as the encode's).")
@click.option("--fps", type=Number(float, 0, 1000, min_open=True), default=25.0, show_default=True, help="Frame rate written to Y4M/MKV.")
def vvc_decode(src, out, decoder, crop, matrix, fps):
    """Decode a VVC bitstream to pictures or a video file.

    \b
    Example:
      vcm vvc decode bus_q37.266 -o bus_q37.png
      vcm vvc decode clip.266 -o clip.mkv --fps 30
    """
    from vcm.pipelines.vvc import decode_file
    from vcm.fsutil import guard_outputs

    guard_outputs([src], {"-o": out})
    crop = _size("--crop", crop, src)
    n = decode_file(src, out, decoder=decoder, matrix=matrix, crop=crop, fps=fps)
    click.echo(f"{out}: {n} picture{'s' if n != 1 else ''} decoded from {src}")


