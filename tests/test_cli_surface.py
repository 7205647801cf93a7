"""The command-line surface agrees with itself (issue 24, rough edges): one name and one default per setting
across commands, built from vcm/settings.py; old spellings still accepted; counts in the helps and README
derived from the code; `vcm bdrate` reads a benchmark's curves.csv with the benchmark's fit; `vcm detect`
takes folders and videos. Real commands, real files (nanodet, ffmpeg/libvvenc)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from vcm.cli import main
from vcm.settings import BENCH_FRAMES, CodingSettings

ROOT = Path(__file__).resolve().parents[1]

# Options whose name two commands share with a different meaning (so a different default), and why.
SAME_NAME_OTHER_SETTING = {
    "--batch-size": "detect: pictures per detector call; train/jrd-eval: crops per step",
    "--decode": "train: how the model decodes; jrd-eval: an override of the checkpoint's (none: keep it)",
    "--frames": f"benchmark codes every video many times: the first {BENCH_FRAMES} frames unless asked",
    "--intra": "vvc encode: --intra/--ra (default by input type); encode/batch/benchmark: the all-intra objects mode",
    "--jrd": "benchmark takes a list of predictors to compare",
    "--qps": "benchmark: the anchor's QPs; label: the QPs each picture is coded at",
    "--split": "label: the split fractions; jrd-eval: which split to score",
    "--workers": "train: DataLoader workers; elsewhere: coding processes",
    "--fps": "vvc encode: a raw input's rate (none: the file's); vvc decode: the rate written",
    "-q": "hidden --quiet alias on the commands that take no QP (benchmark, label, train, jrd-eval)",
    "--bg-qp": "label codes its probes over one background QP (63, the first that --bg-qp auto tries), not auto",
}


def _commands() -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}

    def walk(cmd, path, parent):
        ctx = click.Context(cmd, info_name=path[-1], parent=parent)
        if isinstance(cmd, click.Group):
            for n in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, n), path + [n], ctx)
        else:
            out[" ".join(path[1:])] = cmd

    walk(main, ["vcm"], None)
    return out


COMMANDS = _commands()


def _options():
    for name, cmd in COMMANDS.items():
        for p in cmd.params:
            if isinstance(p, click.Option):
                yield name, p


def _default(p: click.Option):
    d = p.default
    return None if d is None or type(d).__name__ == "Sentinel" else d


def test_one_default_per_option_name_across_commands():
    seen: dict[str, dict[str, object]] = {}
    for cmd, p in _options():
        for o in p.opts + p.secondary_opts:
            seen.setdefault(o, {})[cmd] = _default(p)
    differ = {o: d for o, d in seen.items() if len(set(map(repr, d.values()))) > 1}
    unexplained = sorted(set(differ) - set(SAME_NAME_OTHER_SETTING))
    assert not unexplained, {o: differ[o] for o in unexplained}
    stale = sorted(set(SAME_NAME_OTHER_SETTING) - set(differ) - {"-q"})
    assert not stale, f"listed as differing but no longer do: {stale}"


# (command, setting) whose default differs on purpose (SAME_NAME_OTHER_SETTING says why)
EXEMPT = {("benchmark", "max_frames"), ("benchmark", "jrd"), ("vvc encode", "intra"), ("label", "bg_qp")}


def test_coding_settings_take_the_settings_default_everywhere():
    defaults = {f: getattr(CodingSettings(), f) for f in CodingSettings.field_names()}
    for cmd, p in _options():
        if p.name in defaults and not p.required and (cmd, p.name) not in EXEMPT:
            assert _default(p) == defaults[p.name], (cmd, p.name, _default(p), defaults[p.name])
    jrd = {cmd: _default(p) for cmd, p in _options() if p.name == "jrd" and cmd in ("encode", "batch", "predict")}
    assert jrd == {"encode": "auto", "batch": "auto", "predict": "auto"}, jrd


def test_jrd_auto_is_the_search_for_a_picture_and_the_prior_for_a_video():
    """`--jrd auto` resolved in one place (CodingSettings.for_media); an explicit predictor is kept as given."""
    s = CodingSettings()
    assert (s.for_media(video=False).jrd, s.for_media(video=True).jrd) == ("search", "prior")
    assert (s.for_media(video=False).bg_qp, s.for_media(video=True).bg_qp) == ("auto", 51)
    given = CodingSettings(jrd="dtjrd", bg_qp=45)
    assert given.for_media(video=True) == given and given.for_media(video=False) == given


def test_output_is_o_output_everywhere_and_q_is_the_qp():
    for cmd, p in _options():
        if "-o" in p.opts:
            assert "--output" in p.opts and "--out" in p.opts, (cmd, p.opts)  # --out: the old spelling, hidden
            record = p.get_help_record(click.Context(COMMANDS[cmd]))
            assert "--out " not in record[0] + " " and "--out," not in record[0], (cmd, record)
        if "--qp" in p.opts:
            assert "-q" in p.opts, (cmd, p.opts)
        if "-q" in p.opts and "--qp" not in p.opts:  # --quiet's old short form, on commands without a QP only
            shown = p.get_help_record(click.Context(COMMANDS[cmd]))[0]
            assert p.name == "quiet" and not re.search(r"(^|[ ,])-q\b", shown), (cmd, shown)
            assert not any("--qp" in o.opts for o in COMMANDS[cmd].params if isinstance(o, click.Option)), cmd


@pytest.mark.parametrize("args, name, value", [
    (["encode", "x.jpg", "--out", "y.266"], "out", "y.266"),
    (["encode", "x.jpg", "--output", "y.266", "--mode", "plain", "-q", "37"], "qp", 37),
    (["batch", "in", "--out", "o", "--quiet"], "out_dir", "o"),
    (["detect", "x.jpg", "--batch", "4"], "batch_size", 4),
    (["label", "in", "-o", "o", "--min-score", "0.2", "-q"], "detect_score", 0.2),
    (["label", "in", "-o", "o", "-q"], "quiet", True),
    (["encode", "clip.mp4", "--quiet"], "quiet", True),  # `vcm --help`: --quiet on every command with a bar
    (["train", "d", "--out", "m.pt", "--size", "64"], "img_size", 64),
    (["vvc", "encode", "x.jpg", "--qp", "37", "--out", "y.266", "--no-cache"], "cache", False),
    (["benchmark", "--bundled", "-o", "report"], "bundled", "default"),
    (["benchmark", "-o", "report", "--bundled"], "bundled", "default"),
    (["benchmark", "--bundled", "large", "-o", "report"], "bundled", "large"),
])
def test_old_and_new_spellings_parse(args, name, value):
    grp_ctx = click.Context(main, info_name="vcm")
    cmd, rest = main.get_command(grp_ctx, args[0]), args[1:]
    if isinstance(cmd, click.Group):
        cmd, rest = cmd.get_command(grp_ctx, rest[0]), rest[1:]
    ctx = cmd.make_context(args[0], list(rest))
    assert ctx.params[name] == value


def test_q_is_range_checked_as_a_qp(tmp_path, bus_jpg):
    from click.testing import CliRunner

    for args in (["vvc", "encode", str(bus_jpg), "-q", "64", "-o", str(tmp_path / "a.266")],
                 ["encode", str(bus_jpg), "--mode", "plain", "-q", "64", "-o", str(tmp_path / "b.266")]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and "QP 64 is outside 0..63" in r.output, r.output
    assert not list(tmp_path.iterdir())


def test_bundled_counts_come_from_the_code():
    from vcm.bundled import SETS, bundled_pictures, set_size

    for s in SETS:
        assert set_size(s) == len(bundled_pictures(s)), s
    ctx = click.Context(COMMANDS["benchmark"])
    text = " ".join(COMMANDS["benchmark"].get_help(ctx).split())
    for s in SETS:
        assert f"{s} ({set_size(s)} pictures)" in text
    readme = (ROOT / "README.md").read_text()
    said = [int(n) for n in re.findall(r"on (\d+) real pictures", readme)]
    said += [int(n) for n in re.findall(r"`--bundled default` resolves (\d+) real", readme)]
    assert said and set(said) == {set_size("default")}, said
    assert f"`--bundled large` {set_size('large')}" in readme
    assert f"`--bundled photos`\n{set_size('photos')} real photos" in readme or \
        f"`--bundled photos` {set_size('photos')} real photos" in readme


# --- vcm bdrate and a benchmark's curves.csv ----------------------------------------------------------------
def _bdrate(*args):
    from click.testing import CliRunner

    return CliRunner().invoke(main, ["bdrate", *map(str, args)])


@pytest.fixture(scope="module")
def report(tmp_path_factory, bus_jpg, nanodet_weights):
    """A real benchmark report (one picture, prior and fixed predictors, objects mode)."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("bench")
    (root / "pics").mkdir()
    (root / "pics" / "bus.jpg").write_bytes(Path(bus_jpg).read_bytes())
    r = CliRunner().invoke(main, ["benchmark", str(root / "pics"), "-o", str(root / "report"), "--jrd", "prior",
                                  "--modes", "objects", "--qps", "22,30,38,46", "--offsets=-8,-2,4,10", "--quiet"])
    assert r.exit_code == 0, r.output
    return root / "report"


def test_bdrate_reads_a_benchmark_curve_with_the_benchmarks_fit(report):
    summary = json.loads((report / "summary.json").read_text())
    curves = report / "curves.csv"
    r = _bdrate(curves)  # several curves and no --curve: the error lists them
    assert r.exit_code == 2 and "plain/vvc" in r.output and "objects/prior" in r.output and "--curve" in r.output
    r = _bdrate(curves, "--curve", "objects/prior", "--json", "-")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)["map50"]
    want = summary["bd_rate"]["objects/prior"] if "bd_rate" in summary else None
    if want is None:  # the summary's layout: the mAP@0.5 entries under their quality
        want = next(v["objects/prior"] for k, v in summary.items() if isinstance(v, dict) and "objects/prior" in v)
    for method in ("pchip", "akima"):
        exp = want[method]
        val = got[method]["value"]
        assert (val is None and exp is None) or val == pytest.approx(exp, abs=1e-9), (method, val, exp, got)
    assert got["pchip"]["fit"] == "cubic"
    same = _bdrate(curves, curves, "--curve", "objects/prior", "--anchor-curve", "plain/vvc", "--json", "-")
    assert json.loads(same.output)["map50"]["pchip"] == got["pchip"]
    names = {line.split(",", 1)[0] for line in curves.read_text().splitlines()[1:]}
    modes = [n.split("/")[0] for n in names]
    for mode in set(modes):  # a mode names its curve when it is the only one of that mode
        r = _bdrate(curves, "--curve", mode, "--json", "-")
        assert (r.exit_code == 0) == (modes.count(mode) == 1 and mode != "plain"), (mode, r.output)
        if modes.count(mode) > 1:
            assert "matches several curves" in r.output


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_bdrate_map_units_and_names(tmp_path):
    rows = [(1000, 0.40), (2000, 0.55), (4000, 0.66), (8000, 0.72)]
    frac = _csv(tmp_path / "a.csv", "rate,map50\n" + "".join(f"{r},{q}\n" for r, q in rows))
    pct = _csv(tmp_path / "p.csv", "rate,map50\n" + "".join(f"{r * 0.7:g},{q * 100:g}\n" for r, q in rows))
    r = _bdrate(frac, pct)
    assert r.exit_code == 0, r.output
    assert "p.csv: map50 values up to 72 read as percent" in r.output
    assert "mAP@0.5: BD-rate (pchip) -30.00%" in r.output  # the same curve at 0.7x the rate, once units agree
    bad = _csv(tmp_path / "b.csv", "rate,map50\n1000,40\n2000,55\n4000,166\n8000,172\n")
    r = _bdrate(frac, bad)
    assert r.exit_code == 2 and "b.csv: line 4: map50 166 is neither a fraction" in r.output
    lone = _csv(tmp_path / "m.csv", "rate,mAP\n" + "".join(f"{r},{q}\n" for r, q in rows))
    r = _bdrate(lone, lone)
    assert r.exit_code == 0 and "column `map` read as mAP@0.5:0.95" in r.output
    assert re.search(r"mAP@0.5:0.95: BD-rate \(pchip\) [+-]?0\.00%", r.output), r.output
    r = _bdrate(frac, frac, "--curve", "objects/prior")
    assert r.exit_code == 2 and "no `curve` column" in r.output


# --- vcm detect: folders and videos ----------------------------------------------------------------------
def _detect(*args):
    from click.testing import CliRunner

    return CliRunner().invoke(main, ["detect", *map(str, args)])


def test_detect_takes_a_folder(tmp_path, bus_jpg, zidane_jpg, nanodet_weights):
    photos = tmp_path / "photos"
    photos.mkdir()
    for src in (bus_jpg, zidane_jpg):
        (photos / Path(src).name).write_bytes(Path(src).read_bytes())
    (photos / "notes.txt").write_text("not a picture")
    r = _detect(photos, "--json", tmp_path / "d.json", "--coco-gt", tmp_path / "g.json", "--draw", tmp_path / "dr")
    assert r.exit_code == 0, r.output
    files = [im["file"] for im in json.loads((tmp_path / "d.json").read_text())["images"]]
    assert files == [str(photos / "bus.jpg"), str(photos / "zidane.jpg")]
    assert len(json.loads((tmp_path / "g.json").read_text())["images"]) == 2
    assert sorted(p.name for p in (tmp_path / "dr").iterdir()) == ["bus.png", "zidane.png"]
    one = _detect(photos / "bus.jpg", "--json", "-")
    assert json.loads(one.output)["images"][0]["detections"] == \
        json.loads((tmp_path / "d.json").read_text())["images"][0]["detections"]
    (tmp_path / "empty").mkdir()
    r = _detect(tmp_path / "empty", "--json", tmp_path / "e.json")
    assert r.exit_code == 2 and "holds no picture or video" in r.output and not (tmp_path / "e.json").exists()


def test_detect_takes_a_video_frame_by_frame(tmp_path, bikes_mp4, nanodet_weights):
    from vcm.media import read_video_rgb

    r = _detect(bikes_mp4, "--start", 5, "--frames", 3, "--json", tmp_path / "v.json", "--coco-gt",
                tmp_path / "g.json", "--draw", tmp_path / "dr", "--batch-size", 2)
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "v.json").read_text())
    assert [im["file"] for im in doc["images"]] == [f"{bikes_mp4}#{k}" for k in (5, 6, 7)]
    assert sorted(p.name for p in (tmp_path / "dr").iterdir()) == [f"bikes_{k:06d}.png" for k in (5, 6, 7)]
    assert len(json.loads((tmp_path / "g.json").read_text())["images"]) == 3
    # frame 6 detected from the video is frame 6 detected as a picture
    frames, _ = read_video_rgb(bikes_mp4, 7)
    from vcm.media import write_picture

    write_picture(tmp_path / "f6.png", frames[6])
    one = json.loads(_detect(tmp_path / "f6.png", "--json", "-").output)["images"][0]
    assert one["detections"] == doc["images"][1]["detections"]
    # mAP of the video's detections against themselves as pseudo ground truth: every box found
    from click.testing import CliRunner

    m = CliRunner().invoke(main, ["map", "--gt", str(tmp_path / "g.json"), "--pred", str(tmp_path / "v.json"),
                                  "--json", "-"])
    if doc["images"][0]["detections"] or doc["images"][1]["detections"]:
        assert m.exit_code == 0 and json.loads(m.output)["map50"] == pytest.approx(1.0), m.output


def test_an_unreachable_ray_address_fails_in_seconds(tmp_path, bus_jpg):
    """`vcm batch --executor ray --ray-address` of a cluster that does not answer: one line at once (Ray itself
    retried for about 14 minutes on the help's example, printing its own logs)."""
    import socket
    import time

    from click.testing import CliRunner

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bus.jpg").write_bytes(Path(bus_jpg).read_bytes())
    t0 = time.perf_counter()
    r = CliRunner().invoke(main, ["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--executor", "ray",
                                  "--ray-address", f"127.0.0.1:{port}", "--quiet"])
    assert r.exit_code == 2 and time.perf_counter() - t0 < 60, r.output
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in r.output, r.output
    assert not (tmp_path / "out").exists()  # checked before anything is written
