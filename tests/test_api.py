"""The Python API (vcm.encode/decode/detect), the one settings surface, `python -m vcm`, `--json -`, and the
import rule that the library never imports vcm.pipelines. Real encodes, real detector."""
from __future__ import annotations

import ast
import re
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vcm
from vcm.errors import VcmError
from vcm.settings import CodingSettings

ROOT = Path(__file__).resolve().parents[1]


def test_readme_notebook_example_runs(bus_jpg, tmp_path, monkeypatch):
    """The README's notebook example, extracted from the README and run as it stands."""
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- api-example -->")
    block = text[start:].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bus.jpg").write_bytes(Path(bus_jpg).read_bytes())
    ns: dict = {}
    exec(compile(block, "README.md", "exec"), ns)  # noqa: S102 - the README's own example
    rep = ns["rep"]
    assert rep.total_bytes == len(rep.data) == (tmp_path / "bus.266").stat().st_size
    assert ns["pic"].shape == (1080, 810, 3)


def test_encode_an_array_to_bytes_and_back(bus_jpg):
    from vcm.media import read_picture

    rgb = read_picture(bus_jpg)[::2, ::2].copy()
    rep = vcm.encode(rgb, jrd="fixed:45", bg_qp=55, detector="hog-person")
    assert rep.output is None and rep.data and rep.total_bytes == len(rep.data)
    dec = vcm.decode(rep.data)
    assert dec.picture.shape == rgb.shape and dec.picture.dtype == np.uint8
    psnr = 10 * np.log10(255 ** 2 / np.mean((dec.picture.astype(float) - rgb) ** 2))
    assert psnr > 15  # a real coded picture at QP 55 (~18 dB), not noise (~8 dB)
    json.dumps(rep.to_json())  # loadable as JSON (no bytes inside)


def test_detect_returns_detections(bus_jpg):
    dets = vcm.detect(bus_jpg, detector="hog-person")
    assert dets.width == 810 and len(dets) >= 1 and all(d.label == "person" for d in dets)
    assert callable(vcm.detect) and hasattr(vcm.detect, "create_detector")


def test_settings_are_checked_once_with_one_line_errors():
    assert CodingSettings().margin == 48 and CodingSettings().bg_qp == "auto" == CodingSettings().mode
    for bad, words in [({"foo": 1}, "unknown setting"), ({"mode": "tubes"}, "unknown mode"),
                       ({"mode": "plain"}, "needs --qp"), ({"bg_qp": 70}, "outside 0..63"),
                       ({"qp": 30}, "--qp is the QP of --mode plain"), ({"max_frames": 0}, ">= 1"),
                       ({"intra_period": 0}, ">= 1"), ({"conf": 2.0}, "outside 0..1")]:
        with pytest.raises(VcmError, match=words):
            CodingSettings.from_kwargs(**bad)


def test_cli_defaults_come_from_the_settings():
    """`--help` shows the settings' own defaults (once, the margin said 16 where the code used 48)."""
    from click.testing import CliRunner

    from vcm.cli import main

    for cmd in ("encode", "batch", "benchmark"):
        out = CliRunner().invoke(main, [cmd, "--help"], terminal_width=200).output
        assert re.search(rf"--margin .*\[default: {CodingSettings().margin}[;\]]", out), cmd
        assert "--conf" in out and "--classes" in out and "--device" in out and "--imgsz" in out, cmd


def test_python_m_vcm_and_json_dash(bus_jpg, tmp_path):
    r = subprocess.run([sys.executable, "-m", "vcm", "--version"], capture_output=True, text=True, check=True)
    assert r.stdout.startswith("vcm, version")
    out = tmp_path / "b.266"
    r = subprocess.run([sys.executable, "-m", "vcm", "encode", str(bus_jpg), "-o", str(out), "--jrd", "prior",
                        "--detector", "hog-person", "--json", "-"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # stdout holds the JSON and nothing else
    assert doc["total_bytes"] == out.stat().st_size
    assert not (tmp_path / "-").exists()


def _import_graph() -> dict[str, set[str]]:
    """Every vcm module -> the vcm modules it imports, at the top or inside a function (a lazy import closes a
    circle too, at the call): `from vcm.a import b` counts as importing vcm.a.b when that is a module."""
    files = {}
    for f in (ROOT / "vcm").rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f

    def module(name: str) -> str:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for mod, f in files.items():
        out = set()
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [module(f"{node.module}.{a.name}") for a in node.names]
            out |= {module(n) for n in names if n.split(".")[0] == "vcm"} - {mod, ""}
        graph[mod] = out
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_library_never_imports_pipelines():
    """vcm/ below the CLI and the API is a library: no module of it reaches vcm.pipelines, vcm.api or vcm.cli,
    directly or through other modules, lazily or not; and no vcm modules import each other in a circle (once
    vcm.detect -> vcm.api -> vcm.pipelines.encode -> vcm.detect, with vcm.settings: 6 modules, all lazy imports,
    which a check of direct top-level imports missed)."""
    graph = _import_graph()
    assert _circles(graph) == []
    upper = ("vcm.pipelines", "vcm.cli", "vcm.api", "vcm.__main__")
    offenders = []
    for start in graph:
        if start.startswith(upper) or start == "vcm":  # vcm/__init__ maps the API names lazily
            continue
        seen, todo = {start}, [start]
        while todo:
            for w in graph[todo.pop()] - seen:
                seen.add(w)
                todo.append(w)
        offenders += [f"{start} -> {m}" for m in sorted(seen) if m.startswith(upper)]
    assert not offenders


def test_import_graph_check_sees_lazy_circles():
    """The check above is able to fail: a lazy import of the API from a library module is a circle it finds."""
    graph = _import_graph()
    graph["vcm.detect"] = graph["vcm.detect"] | {"vcm.api"}
    assert any("vcm.detect" in c and "vcm.api" in c for c in _circles(graph))


def test_reports_are_typed_and_to_json_is_what_the_cli_writes(bus_jpg, tmp_path):
    """Every pipeline returns its typed report; `to_json()` is the JSON the command writes, key for key."""
    from click.testing import CliRunner

    from vcm.cli import main
    from vcm.media import read_picture, write_picture
    from vcm.pipelines.batch import BatchConfig, BatchReport, run_batch
    from vcm.pipelines.decode import DecodeReport, run_decode
    from vcm.pipelines.predict import PredictReport, run_predict

    pics = tmp_path / "pics"
    pics.mkdir()
    write_picture(pics / "bus.png", read_picture(bus_jpg)[::2, ::2])
    opts = {"jrd": "fixed:45", "bg_qp": 55, "detector": "hog-person"}
    coded = tmp_path / "bus.266"
    rep = vcm.encode(pics / "bus.png", coded, **opts)

    def cli(*args):
        r = CliRunner().invoke(main, [str(a) for a in args])
        assert r.exit_code == 0, r.output
        return json.loads((tmp_path / "cli.json").read_text())

    def same(report, written, volatile=("seconds", "output")):
        mine = json.loads(json.dumps(report.to_json()))
        assert list(mine) == list(written)
        assert {k: v for k, v in mine.items() if k not in volatile} == \
            {k: v for k, v in written.items() if k not in volatile}

    dec = run_decode(coded, tmp_path / "a.png")
    assert isinstance(dec, DecodeReport) and not dec.is_video and len(dec.streams) == len(rep.streams)
    same(dec, cli("decode", coded, "-o", tmp_path / "b.png", "--json", tmp_path / "cli.json"))
    from_bytes = vcm.decode(rep.data)  # the API: the same report, nothing written
    assert from_bytes.input is None and from_bytes.output is None and from_bytes.streams == dec.streams
    assert np.array_equal(from_bytes.picture, dec.picture)

    pred = run_predict(pics / "bus.png", CodingSettings(jrd="prior", detector="hog-person"))
    assert isinstance(pred, PredictReport) and pred.objects
    same(pred, cli("predict", pics / "bus.png", "--jrd", "prior", "--detector", "hog-person",
                   "--json", tmp_path / "cli.json"))

    batch = run_batch(BatchConfig(pics, tmp_path / "out", CodingSettings(check=False, **opts), progress=False))
    assert isinstance(batch, BatchReport) and (batch.items, batch.ok, batch.failed) == (1, 1, 0)
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == json.loads(json.dumps(batch.to_json()))
