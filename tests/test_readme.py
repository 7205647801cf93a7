"""Every short example in the README runs as written: each `$ vcm ...` line of a block marked `<!-- example -->`
is run in a folder holding bus.jpg, must exit 0, and every output line the README shows (except lines
with `...`) must appear in what the command printed. The runner (conftest's `run_vcm_line`) is the one that
runs the `--help` examples too (tests/test_cli_help_examples.py)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _examples() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text()
    out = []
    for part in text.split("<!-- example -->")[1:]:
        block = part.split("```console", 1)[1].split("```", 1)[0]
        cmd, shown = None, []
        for line in block.strip("\n").splitlines():
            if line.startswith("$ "):
                if cmd:
                    out.append((cmd, shown))
                cmd, shown = line[2:].split("  #")[0].strip(), []
            elif line.strip() and "..." not in line:
                shown.append(line.strip())
        if cmd:
            out.append((cmd, shown))
    return out


def test_readme_examples_run(bus_jpg, tmp_path, vcm_line):
    examples = _examples()
    assert len(examples) >= 8, examples  # the README's quickstart and per-command examples
    (tmp_path / "bus.jpg").write_bytes(Path(bus_jpg).read_bytes())
    for cmd, shown in examples:
        if cmd.split()[1] == "benchmark":  # the whole bundled set: measured in docs/BENCHMARKS.md, not here
            continue
        r = vcm_line(cmd, tmp_path, shown)
        assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stderr}"
