"""`vcm vvc`, `vcm doctor` and start-up: real subprocess runs of the installed command."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vcm.codec import EncodeParams, YuvClip
from vcm.codec.base import YuvFrame

VCM = [shutil.which("vcm") or str(Path(sys.executable).parent / "vcm")]


def run(*args, cwd=None):
    return subprocess.run([*VCM, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_version_and_help_lists_commands():
    r = run("--version")
    assert r.returncode == 0 and "vcm, version" in r.stdout
    r = run("--help")
    assert r.returncode == 0 and "vvc" in r.stdout and "doctor" in r.stdout


def test_every_command_help_shows_an_example():
    from click.testing import CliRunner

    from vcm.cli import main

    runner = CliRunner()
    listed = main.list_commands(None)
    assert {"vvc", "doctor"} <= set(listed)
    for name in listed:
        r = runner.invoke(main, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Example" in r.output, f"`vcm {name} --help` shows no example"
    for sub in ("encode", "decode"):
        r = runner.invoke(main, ["vvc", sub, "--help"])
        assert "Example" in r.output


def test_no_model_commands_do_not_import_torch():
    code = ("import sys; from click.testing import CliRunner; from vcm.cli import main; "
            "r=CliRunner().invoke(main, ['--help']); "
            "[CliRunner().invoke(main, [c, '--help']) for c in ('vvc', 'doctor', 'decode')]; "
            "print(sorted(m for m in ('torch', 'ultralytics', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_encode_then_decode_round_trip(tmp_path, astronaut_png):
    out = tmp_path / "a.266"
    r = run("vvc", "encode", astronaut_png, "-q", "37", "-o", out, "--json", tmp_path / "a.json")
    assert r.returncode == 0, r.stderr
    assert "bytes" in r.stdout and "bpp" in r.stdout and "PSNR" in r.stdout
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["bytes"] == out.stat().st_size and report["slice_qps"] == [37]
    assert report["command"][0].endswith(("ffmpeg", "v9.0.2")) or "ffmpeg" in report["command"][0]
    r = run("vvc", "decode", out, "-o", tmp_path / "a.png")
    assert r.returncode == 0, r.stderr
    from vcm.media import read_picture

    assert read_picture(tmp_path / "a.png").shape == (512, 512, 3)


def test_odd_picture_decodes_back_to_its_size_with_crop(tmp_path, astronaut_png):
    from vcm.media import read_picture, write_picture

    write_picture(tmp_path / "odd.png", read_picture(astronaut_png)[:101, :77])
    r = run("vvc", "encode", tmp_path / "odd.png", "-q", "30", "-o", tmp_path / "o.266")
    assert r.returncode == 0 and "restores 77x101" in r.stdout, r.stdout
    assert run("vvc", "decode", tmp_path / "o.266", "-o", tmp_path / "o.png").returncode == 0  # from the size SEI
    assert read_picture(tmp_path / "o.png").shape == (101, 77, 3)
    assert run("vvc", "decode", tmp_path / "o.266", "-o", tmp_path / "c.png", "--crop", "70x90").returncode == 0
    assert read_picture(tmp_path / "c.png").shape == (90, 70, 3)  # --crop still overrides


def test_video_to_mkv_and_y4m(tmp_path, bikes_mp4):
    r = run("vvc", "encode", bikes_mp4, "-q", "40", "--frames", "4", "-o", tmp_path / "v.266")
    assert r.returncode == 0, r.stderr
    assert "4 frames" in r.stdout
    assert run("vvc", "decode", tmp_path / "v.266", "-o", tmp_path / "v.mkv", "--fps", "25").returncode == 0
    assert run("vvc", "decode", tmp_path / "v.266", "-o", tmp_path / "v.y4m").returncode == 0
    from vcm.media import read_video_rgb, read_y4m

    frames, fps = read_video_rgb(tmp_path / "v.mkv")
    assert len(frames) == 4 and frames[0].shape == (272, 640, 3) and fps == 25
    assert len(read_y4m(tmp_path / "v.y4m")[0]) == 4


def _one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_bad_inputs_give_one_line_errors_and_no_output(tmp_path, astronaut_png):
    out = tmp_path / "x.266"
    _one_line_error(run("vvc", "encode", tmp_path / "missing.png", "-q", "30", "-o", out), "missing.png", "Fix:")
    (tmp_path / "empty.png").write_bytes(b"")
    _one_line_error(run("vvc", "encode", tmp_path / "empty.png", "-q", "30", "-o", out), "empty.png", "empty")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" * 10)
    _one_line_error(run("vvc", "encode", tmp_path / "bad.jpg", "-q", "30", "-o", out), "bad.jpg", "corrupt")
    _one_line_error(run("vvc", "encode", astronaut_png, "-q", "64", "-o", out), "QP 64", "0..63")
    _one_line_error(run("vvc", "encode", astronaut_png, "-q", "30", "-o", out, "--encoder", "x265"), "x265")
    from vcm.codec.vtm import VTMEncoder

    if not VTMEncoder().available():  # not on PATH, not named, not built by `make vtm`
        _one_line_error(run("vvc", "encode", astronaut_png, "-q", "30", "-o", out, "--encoder", "vtm"),
                        "vtm", "vcm doctor")
    _one_line_error(run("vvc", "encode", astronaut_png, "-q", "30", "-o", astronaut_png), "overwritten")
    assert not out.exists() and not list(tmp_path.glob(".*tmp*"))
    # a truncated bitstream
    good = tmp_path / "good.266"
    assert run("vvc", "encode", astronaut_png, "-q", "30", "-o", good).returncode == 0
    (tmp_path / "cut.266").write_bytes(good.read_bytes()[:40])
    _one_line_error(run("vvc", "decode", tmp_path / "cut.266", "-o", tmp_path / "cut.png"), "cut.266", "re-encode")
    assert not (tmp_path / "cut.png").exists()


def test_doctor_reports_a_working_vvc_path():
    r = run("doctor", "--json", "-")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert "ffmpeg" in report["encoders"] and "pyav" in report["decoders"] and report["vvc_ok"]


def test_doctor_exits_1_without_any_encoder(tmp_path):
    env = {**os.environ, "VCM_FFMPEG": str(tmp_path / "no-ffmpeg"), "PATH": "/usr/bin:/bin",
           "VCM_VTM_CACHE": str(tmp_path / "no-vtm-build")}  # `make vtm`'s build is found without PATH
    r = subprocess.run([*VCM, "doctor"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1 and "NO" in r.stdout


# --- external backends: command lines against their documented options; real runs when present ---

def _clip():
    import numpy as np

    f = YuvFrame(np.full((64, 96), 512, np.uint16), np.full((32, 48), 512, np.uint16), np.full((32, 48), 512, np.uint16))
    return YuvClip([f, f], fps=30)


def test_vvencffapp_command_line():
    from vcm.codec.vvenc import VVenCEncoder

    cmd = VVenCEncoder(exe="/opt/bin/vvencFFapp").command(Path("in.yuv"), _clip(), EncodeParams(qp=32), Path("o.266"))
    for opt in ("-s", "96x64", "--InputBitDepth=10", "-q=32", "--PerceptQPA=0",
                "--IntraPeriod=1", "--IntraQPOffset=0", "--MCTF=0", "--preset=faster", "-f=2", "-b"):
        assert opt in cmd, opt
    ra = VVenCEncoder(exe="/opt/bin/vvencFFapp").command(Path("in.yuv"), _clip(), EncodeParams(qp=32, intra=False),
                                                           Path("o.266"))
    assert "--IntraPeriod=32" in ra


def test_vvencapp_command_line():
    from vcm.codec.vvenc import VVenCEncoder

    cmd = VVenCEncoder(exe="/opt/bin/vvencapp").command(Path("in.yuv"), _clip(), EncodeParams(qp=27, qpa=True),
                                                         Path("o.266"))
    assert cmd[cmd.index("-c") + 1] == "yuv420_10" and cmd[cmd.index("-q") + 1] == "27"
    assert cmd[cmd.index("--qpa") + 1] == "1" and cmd[cmd.index("--intraperiod") + 1] == "1"
    assert cmd[cmd.index("-o") + 1] == "o.266"


def test_vtm_command_line_uses_shipped_cfg():
    from vcm.codec.vtm import VTMEncoder, VTMDecoder

    cmd = VTMEncoder(exe="/opt/EncoderApp").command(Path("in.yuv"), _clip(), EncodeParams(qp=22), Path("o.266"))
    cfg = Path(cmd[cmd.index("-c") + 1])
    assert cfg.exists() and "IntraPeriod                   : 1" in cfg.read_text()
    assert "--QP=22" in cmd and "--IntraQPOffset=0" in cmd and cmd[cmd.index("-wdt") + 1] == "96"
    ra = VTMEncoder(exe="/opt/EncoderApp").command(Path("in.yuv"), _clip(), EncodeParams(qp=22, intra=False), Path("o"))
    assert Path(ra[ra.index("-c") + 1]).name == "encoder_randomaccess_vtm.cfg"
    assert VTMDecoder(exe="/opt/DecoderApp").decode_command(Path("a.266"), Path("a.y4m"))[-2:] == ["-d", "10"]


@pytest.mark.external
@pytest.mark.parametrize("name", ["vvenc", "vtm"])
def test_external_encoder_round_trip(name, astronaut_png):
    from vcm.codec import create_encoder, decode, encode, picture_to_clip, read_picture

    enc = create_encoder(name, check=False)
    if not enc.available():
        pytest.skip(f"{name} encoder binary not on PATH (not installable from this project's registries)")
    res = encode(picture_to_clip(read_picture(astronaut_png)[:128, :128].copy()), EncodeParams(qp=32), encoder=enc,
                 cache=False)
    assert res.slice_qps == [32] and decode(res.bitstream)[0].width == 128
