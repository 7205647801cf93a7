"""Hostile and bad input (issue 16): no code execution, no overwritten inputs, no tracebacks, nothing half-written.

Every case runs the real CLI (click's CliRunner, or a subprocess where process exit matters) on real files and
asserts the exit code, ONE error line naming the file, no traceback, no output or partial file left behind and
the inputs unchanged. What vcm promises is written down in docs/BAD_INPUT.md.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vcm.cli import describe_failure, main
from vcm.errors import VcmError

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ helpers
def cli(*args, cwd: Path | None = None):
    """Run `vcm ARGS` in-process; with cwd, inside that folder."""
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        return CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)


def sub(*args, env: dict | None = None, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m vcm.cli ARGS` in a fresh process (this tree's vcm first on the path)."""
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    return subprocess.run([sys.executable, "-m", "vcm.cli", *[str(a) for a in args]], capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=timeout, check=False)


def error_line(r, *names, code: int = 2, alone: bool = True) -> str:
    """The run failed with `code` and printed exactly one `Error:` line (the last one) naming every `names`."""
    out = r.output if hasattr(r, "output") else r.stdout + r.stderr
    rc = r.exit_code if hasattr(r, "exit_code") else r.returncode
    assert rc == code, out
    assert "Traceback" not in out, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], out
    if alone:
        assert len(lines) == 1, out
    for n in names:
        assert str(n) in errors[0], (n, out)
    return errors[0]


def tree(root: Path) -> dict[str, str]:
    """Every file under root (hidden ones too) -> sha256: what 'nothing left, nothing changed' compares."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _picture(path: Path, w: int = 64, h: int = 48, seed: int = 0) -> Path:
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (max(2, h // 8), max(2, w // 8), 3)).astype(np.uint8)
    cv2.imwrite(str(path), cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
    return path


def _writable(d: Path) -> bool:
    try:
        (d / ".w").write_bytes(b"")
        (d / ".w").unlink()
        return True
    except OSError:
        return False


@pytest.fixture
def ws(tmp_path) -> Path:
    """A work folder holding one small picture, small.png (64x48)."""
    _picture(tmp_path / "small.png")
    return tmp_path


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody can write into: mode 555, or immutable (chattr +i) where we run as root."""
    d = tmp_path / "ro"
    d.mkdir()
    os.chmod(d, 0o555)
    immutable = False
    if _writable(d):
        r = subprocess.run(["chattr", "+i", str(d)], capture_output=True, check=False)
        immutable = r.returncode == 0
        if not immutable or _writable(d):
            os.chmod(d, 0o755)
            pytest.skip("cannot make a read-only folder here (root without chattr)")
    yield d
    if immutable:
        subprocess.run(["chattr", "-i", str(d)], capture_output=True, check=False)
    os.chmod(d, 0o755)


@pytest.fixture(scope="module")
def small_266(tmp_path_factory) -> Path:
    """A plain VVC picture stream (64x48, QP 40) from the real encoder."""
    d = tmp_path_factory.mktemp("s266")
    _picture(d / "p.png")
    r = cli("vvc", "encode", d / "p.png", "-q", 40, "-o", d / "p.266")
    assert r.exit_code == 0, r.output
    return d / "p.266"


# ----------------------------------------------------------------------- 1. weights files that run code
class _Payload:
    """Unpickling this runs `touch MARKER` (the classic __reduce__ attack)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture
def evil_pt(tmp_path) -> tuple[Path, Path]:
    """A real torch checkpoint whose pickle creates MARK when loaded; proven live, then the marker removed."""
    import torch

    marker = tmp_path / "MARK"
    path = tmp_path / "evil.pt"
    torch.save({"model": _Payload(marker), "train_args": {}}, path)
    torch.load(path, weights_only=False)  # the control: an unsafe load really runs it
    assert marker.exists()
    marker.unlink()
    return path, marker


@pytest.fixture(scope="module")
def real_pt(tmp_path_factory) -> Path:
    """A real ultralytics checkpoint: YOLO('yolo11n.yaml') saved the ultralytics way (random weights)."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolo") / "yolo11n-random.pt"
    YOLO("yolo11n.yaml").save(str(path))
    return path


def test_malicious_weights_refused_by_detect_in_a_fresh_process(evil_pt, ws):
    path, marker = evil_pt
    r = sub("detect", ws / "small.png", "--detector", path)
    error_line(r, path, "refused", "posix.system")
    assert not marker.exists()


@pytest.mark.parametrize("command", ["encode", "label", "benchmark", "batch"])
def test_malicious_weights_refused_by_every_command(evil_pt, ws, command):
    path, marker = evil_pt
    pics = ws / "pics"
    pics.mkdir()
    shutil.copy(ws / "small.png", pics / "a.png")
    args = {"encode": ["encode", pics / "a.png", "-o", ws / "a.266", "--detector", path, "--jrd", "fixed:40"],
            "label": ["label", pics, "-o", ws / "lab", "--detector", path, "-q"],
            "benchmark": ["benchmark", pics, "-o", ws / "rep", "--detector", path, "--jrd", "fixed:40", "-q"],
            "batch": ["batch", pics, "-o", ws / "out", "--detector", path, "--quiet"]}[command]
    before = tree(pics)
    error_line(cli(*args), path, "refused")
    assert not marker.exists()
    assert tree(pics) == before
    assert not any((ws / n).exists() for n in ("a.266", "lab", "rep", "out"))


def test_real_ultralytics_checkpoint_passes_the_scan_and_loads(real_pt, ws):
    from vcm.safety import check_weights_file

    names = check_weights_file(real_pt)
    assert "ultralytics.nn.tasks.DetectionModel" in names and "torch._utils._rebuild_tensor_v2" in names
    r = cli("detect", ws / "small.png", "--detector", real_pt, "--json", ws / "d.json")
    assert r.exit_code == 0, r.output
    assert json.loads((ws / "d.json").read_text())["images"][0]["file"].endswith("small.png")


def _zip_with_pickle(path: Path, pkl: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", "3\n")
    return path


@pytest.mark.parametrize("program, why", [
    (b"\x80\x02cbuiltins\nexec\nX\x04\x00\x00\x00pass\x85R.", "builtins.exec"),
    # an allowed class may be created with NEWOBJ (no constructor) but never called: its __init__ could run code
    (b"\x80\x02cultralytics.nn.tasks\nDetectionModel\nX\x06\x00\x00\x00x.yamlq\x00\x85R.", "calls"),
    # getattr only for a module's forward, never for a private attribute
    (b"\x80\x02cbuiltins\ngetattr\nccollections\nOrderedDict\n)RX\x09\x00\x00\x00__class__\x86R.", "getattr"),
    (b"\x80\x02\x82\x01.", "EXT1"),  # copyreg extension registry
    (b"\x80\x02cposix\nsystem\n.", "posix.system"),  # naming it is enough
])
def test_scan_refuses_unsafe_pickles(tmp_path, program, why):
    from vcm.safety import check_weights_file

    path = _zip_with_pickle(tmp_path / "w.pt", program)
    with pytest.raises(VcmError, match=why) as e:
        check_weights_file(path)
    assert str(path) in str(e.value)


def test_scan_refuses_non_zip_and_damaged_files(tmp_path):
    from vcm.safety import check_weights_file

    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(VcmError, match="not a torch zip"):
        check_weights_file(legacy)
    cut = _zip_with_pickle(tmp_path / "cut.pt", pickle.dumps({"w": [1.0] * 10}, protocol=2)[:-5])
    with pytest.raises(VcmError, match="damaged pickle"):
        check_weights_file(cut)


def test_damaged_and_malicious_resume_file_for_train(tmp_path, torch_one_thread):
    import torch

    from vcm.jrd.data import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "ds", n=24, seed=0)
    out = tmp_path / "m.pt"
    last = tmp_path / "m.pt.last.pt"
    args = ["train", tmp_path / "ds", "-o", out, "--backbone", "tiny", "--epochs", 1, "--batch-size", 8,
            "--workers", 0, "--device", "cpu", "--threads", 1, "-q"]
    last.write_bytes(os.urandom(4096))
    error_line(cli(*args), last, "--restart", alone=False)
    marker = tmp_path / "MARK"
    torch.save({"state_dict": _Payload(marker)}, last)
    error_line(cli(*args), last, "refused", alone=False)
    assert not marker.exists() and not out.exists()


# ------------------------------------------------------------------------------- 2. inputs overwritten
def test_encode_json_onto_the_input_or_the_output(ws):
    before = tree(ws)
    error_line(cli("encode", ws / "small.png", "-o", ws / "c.266", "--json", ws / "small.png"), "--json",
               "small.png", "overwritten")
    error_line(cli("encode", ws / "small.png", "-o", ws / "x", "--json", ws / "x"), "--json", "-o", "same file")
    assert tree(ws) == before


def test_outputs_equal_to_inputs_refused_everywhere(ws, small_266):
    pics = ws / "pics"
    pics.mkdir()
    shutil.copy(ws / "small.png", pics / "a.png")
    shutil.copy(small_266, ws / "p.266")
    (ws / "ds").mkdir()
    (ws / "ds" / "JRD_info.json").write_text("{}")
    before = tree(ws)
    cases = [
        (["vvc", "encode", ws / "small.png", "-q", 40, "-o", ws / "p.266", "--json", ws / "small.png"], "--json"),
        (["vvc", "decode", ws / "p.266", "-o", ws / "p.266"], "-o"),
        (["decode", ws / "p.266", "-o", ws / "small.png", "--json", ws / "p.266"], "--json"),
        (["detect", ws / "small.png", "--json", ws / "small.png"], "--json"),
        (["detect", ws / "small.png", "--coco", ws / "d.json", "--json", ws / "d.json"], "same file"),
        (["detect", pics / "a.png", "--draw", pics], "--draw"),  # would write pics/a.png over the input
        (["predict", ws / "small.png", "--json", ws / "small.png"], "--json"),
        (["batch", pics, "-o", pics / "coded"], "inside the input folder"),
        (["batch", pics, "-o", pics], "is the input"),
        (["label", pics, "-o", pics / "lab"], "inside the input folder"),
        (["benchmark", pics, "-o", pics / "rep"], "inside the input folder"),
        (["train", ws / "ds", "-o", ws / "ds" / "JRD_info.json", "--backbone", "tiny"], "JRD_info.json"),
        (["jrd-eval", ws / "ds", "--jrd", "fixed:40", "--json", ws / "ds" / "JRD_info.json"], "--json"),
    ]
    for args, what in cases:
        error_line(cli(*args), what)
    assert tree(ws) == before


# ------------------------------------------------------------------------------ 3. batch name collisions
def test_batch_names_are_unique_stable_and_in_the_manifest(ws):
    import csv

    src = ws / "in"
    src.mkdir()
    for i, n in enumerate(("a.jpg", "a.png", "a.jpg.png", "b.png")):
        _picture(src / n, seed=i)
    before = tree(src)
    args = ["batch", src, "-o", ws / "out", "--mode", "plain", "--qp", 45, "--quiet"]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(ws / "out" / "manifest.csv")))
    made = {row["input"]: row["output"] for row in rows}
    assert made == {"a.jpg": "a.jpg.266", "a.png": "a.png.266", "a.jpg.png": "a.jpg.png.266", "b.png": "b.266"}
    assert all((ws / "out" / o).stat().st_size > 0 for o in made.values())
    r = cli(*args)  # a rerun recodes nothing
    assert r.exit_code == 0 and {row["status"] for row in csv.DictReader(open(ws / "out" / "manifest.csv"))} \
        == {"skipped"}, r.output
    assert tree(src) == before


def test_batch_does_not_read_links_out_of_the_folder(ws):
    import csv

    src = ws / "in"
    src.mkdir()
    _picture(src / "ok.png")
    _picture(ws / "secret.png", seed=3)
    (src / "leak.png").symlink_to(ws / "secret.png")
    (src / "loop1.png").symlink_to(src / "loop2.png")
    (src / "loop2.png").symlink_to(src / "loop1.png")
    (src / "sub").mkdir()
    (src / "sub" / "up").symlink_to(src, target_is_directory=True)  # a folder loop: never walked into
    r = cli("batch", src, "-o", ws / "out", "--mode", "plain", "--qp", 45, "--quiet")
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    rows = {row["input"]: row for row in csv.DictReader(open(ws / "out" / "manifest.csv"))}
    assert rows["ok.png"]["status"] == "ok"
    for n in ("leak.png", "loop1.png", "loop2.png"):
        assert rows[n]["status"] == "failed" and "outside IN_DIR" in rows[n]["error"]
        assert not (ws / "out" / rows[n]["output"]).exists()
    assert set(rows) == {"ok.png", "leak.png", "loop1.png", "loop2.png"}


# ------------------------------------------------------------------------------------ 4. no tracebacks
def test_read_only_output_folder(ws, readonly_dir):
    before = tree(ws)
    error_line(cli("vvc", "encode", ws / "small.png", "-q", 40, "-o", readonly_dir / "x.266"), readonly_dir)
    # 5: --json into a read-only folder must not leave the .266 either
    error_line(cli("encode", ws / "small.png", "-o", ws / "e.266", "--json", readonly_dir / "e.json",
                   "--jrd", "fixed:40"), readonly_dir)
    assert tree(ws) == before


def test_decode_a_picture_to_a_video_name(ws, small_266):
    error_line(cli("decode", small_266, "-o", ws / "x.mkv"), "x.mkv", ".png")
    assert not (ws / "x.mkv").exists()


def test_raw_yuv_sizes(ws):
    raw = ws / "raw.yuv"
    raw.write_bytes(os.urandom(1000))
    error_line(cli("vvc", "encode", raw, "--size", "0x0", "-q", 40, "-o", ws / "r.266"), "raw.yuv", "0x0")
    error_line(cli("vvc", "encode", raw, "--size", "16x16", "-q", 40, "-o", ws / "r.266"), "raw.yuv",
               "not a whole number")
    assert not (ws / "r.266").exists()


def _deep_json(path: Path, depth: int = 100_000) -> Path:
    path.write_text("[" * depth + "]" * depth)
    return path


def _jrd_file(path: Path, values, key="OWJRD") -> Path:
    path.write_text('{"1.png": {"objects": [%s], "%s": [%s]}}' % (
        ", ".join(f'"1_{i}"' for i in range(len(values))), key, ", ".join(values)))
    return path


def test_jrd_score_refuses_deep_nan_and_non_numeric(ws):
    gt = _jrd_file(ws / "gt.json", ["40", "30"])
    error_line(cli("jrd-score", "--gt", _deep_json(ws / "deep.json"), "--pred", gt), "deep.json", "nested")
    for bad in ("NaN", '"nan"', '"abc"', "Infinity", "true"):
        pred = _jrd_file(ws / "pred.json", ["40", bad], key="PreOWJRD")
        error_line(cli("jrd-score", "--gt", gt, "--pred", pred), "pred.json")
    ok = cli("jrd-score", "--gt", gt, "--pred", _jrd_file(ws / "pred.json", ["41", "30"], key="PreOWJRD"))
    assert ok.exit_code == 0 and "MAE: 0.500" in ok.output and "nan" not in ok.output.lower(), ok.output


@pytest.fixture
def detections(ws):
    """A COCO ground truth and a detections file for small.png, from the real detector."""
    r = cli("detect", ws / "small.png", "--coco-gt", ws / "gt.json", "--json", ws / "det.json")
    assert r.exit_code == 0, r.output
    doc = json.loads((ws / "det.json").read_text())
    doc["images"][0]["detections"] = [{"box": [1, 2, 30, 40], "label": "person", "class_id": 0, "score": 0.9}]
    return ws / "gt.json", doc


def test_map_refuses_deep_nan_and_non_numeric(ws, detections):
    gt, doc = detections
    error_line(cli("map", "--gt", _deep_json(ws / "deep.json"), "--pred", gt), "deep.json", "nested")
    for bad in ("NaN", '"nan"', '"high"', "-Infinity"):
        text = json.dumps(doc).replace('"score": 0.9', f'"score": {bad}')
        (ws / "pred.json").write_text(text)
        error_line(cli("map", "--gt", gt, "--pred", ws / "pred.json"), "pred.json")
    (ws / "res.json").write_text('[{"image_id": 1, "category_id": 0, "bbox": [1, 2, 3, 4], "score": "x"}]')
    error_line(cli("map", "--gt", gt, "--pred", ws / "res.json"), "res.json", "finite")


def test_unexpected_failures_print_one_line_and_save_the_traceback(tmp_path, monkeypatch):
    import cv2

    monkeypatch.setenv("VCM_CACHE_DIR", str(tmp_path / "cache"))
    try:
        {}["missing"]
    except KeyError as e:
        code, line = describe_failure(e)
    assert code == 1 and "KeyError" in line and "\n" not in line
    saved = Path(line.split("traceback saved to ")[1].split(". Fix")[0])
    assert saved.parent == tmp_path / "cache" / "errors" and "Traceback" in saved.read_text()
    try:
        open(tmp_path / "no" / "such" / "file.txt", "w")
    except OSError as e:
        code, line = describe_failure(e)
    assert code == 2 and "file.txt" in line and "Fix:" in line
    try:
        cv2.imencode(".nosuchext", np.zeros((4, 4, 3), np.uint8))
    except cv2.error as e:
        code, line = describe_failure(e)
    assert code == 2 and "\n" not in line
    try:
        json.loads("[" * 100_000 + "]" * 100_000)
    except RecursionError as e:
        code, line = describe_failure(e)
    assert code == 2 and "nested" in line


# --------------------------------------------------------------------------- 5. partial output on failure
def test_benchmark_gt_that_matches_nothing_fails_before_coding(ws):
    pics = ws / "pics"
    pics.mkdir()
    shutil.copy(ws / "small.png", pics / "a.png")
    (ws / "gt.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "other.png", "width": 64,
                                                        "height": 48}], "annotations": [],
                                            "categories": [{"id": 1, "name": "person"}]}))
    r = cli("benchmark", pics, "-o", ws / "rep", "--gt", ws / "gt.json", "--qps", "40,45", "--offsets", "0",
            "--modes", "plain", "--jrd", "fixed:40", "-q")
    error_line(r, "gt.json", "a.png")
    assert not (ws / "rep").exists() or not any((ws / "rep").iterdir())


def test_detect_draw_with_a_bad_second_picture_leaves_nothing(ws):
    (ws / "bad.png").write_bytes(os.urandom(2000))
    before = tree(ws)
    error_line(cli("detect", ws / "small.png", ws / "bad.png", "--draw", ws / "drawn", "--json", ws / "d.json"),
               "bad.png", alone=False)
    assert not (ws / "drawn").exists() and not (ws / "d.json").exists()
    assert tree(ws) == before
    r = cli("detect", ws / "small.png", ws / "small.png", "--draw", ws / "drawn")
    assert r.exit_code == 0 and sorted(p.name for p in (ws / "drawn").iterdir()) == ["small.png", "small_1.png"]


def test_detect_missing_second_picture_fails_before_the_detector(ws):
    error_line(cli("detect", ws / "small.png", ws / "none.png", "--draw", ws / "drawn"), "none.png")
    assert not (ws / "drawn").exists()


# -------------------------------------------------------------------------------------- 6. quiet nonsense
@pytest.mark.parametrize("opt", [["--frames", 0], ["--frames", -3], ["--intra-period", 0], ["--fps", 0],
                                 ["--fps", "nan"], ["--fps", -25], ["--threads", -1]])
def test_nonsense_numbers_refused(ws, opt):
    error_line(cli("vvc", "encode", ws / "small.png", "-q", 40, "-o", ws / "x.266", *opt), opt[0])
    assert not (ws / "x.266").exists()


@pytest.mark.parametrize("args, what", [
    (["vvc", "decode", "{s}", "-o", "{ws}/d.png", "--fps", 0], "--fps"),
    (["encode", "{ws}/small.png", "--jrd-offset", 99], "--jrd-offset"),
    (["encode", "{ws}/small.png", "--qp-min", 65], "--qp-min"),
    (["detect", "{ws}/small.png", "--batch", 0], "--batch"),
    (["detect", "{ws}/small.png", "--conf", "nan"], "--conf"),
    (["map", "--gt", "{ws}/small.png", "--pred", "{ws}/small.png", "--max-dets", 0], "--max-dets"),
    (["bdrate", "{ws}/small.png", "{ws}/small.png", "--min-overlap", 2], "--min-overlap"),
    (["train", "{ws}", "-o", "{ws}/m.pt", "--lr", "nan"], "--lr"),
    (["train", "{ws}", "-o", "{ws}/m.pt", "--epochs", 0], "--epochs"),
    (["label", "{ws}", "-o", "{ws}/lab", "--workers", 0], "--workers"),
    (["benchmark", "{ws}", "-o", "{ws}/rep", "--limit", 0], "--limit"),
    (["jrd-score", "--gt", "{ws}/a", "--pred", "{ws}/b", "--median", "inf"], "--median"),
])
def test_nonsense_numbers_refused_everywhere(ws, small_266, args, what):
    before = tree(ws)
    error_line(cli(*[str(a).format(ws=ws, s=small_266) for a in args]), what)
    assert tree(ws) == before


def _video(path: Path, frames: int = 20) -> Path:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=64x48:rate=10", "-frames:v", str(frames), "-pix_fmt", "yuv420p", "-c:v", "libx264",
                    str(path)], check=True, capture_output=True)
    return path


def test_truncated_video_is_coded_with_a_warning(ws):
    full = _video(ws / "clip.mkv")
    cut = ws / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    r = cli("vvc", "encode", cut, "-q", 45, "-o", ws / "cut.266", "--no-cache")
    assert r.exit_code == 0, r.output
    assert "warning" in r.output and "cut.mkv" in r.output and "truncated" in r.output, r.output
    r = cli("vvc", "encode", full, "-q", 45, "-o", ws / "full.266")
    assert r.exit_code == 0 and "warning" not in r.output, r.output


def test_size_errors_name_the_file(ws):
    _picture(ws / "tiny.png", 8, 8)
    error_line(cli("vvc", "encode", ws / "tiny.png", "-q", 40, "-o", ws / "t.266"), "tiny.png", "16x16")
    error_line(cli("encode", ws / "tiny.png", "-o", ws / "t.266", "--jrd", "fixed:40"), "tiny.png", "16x16")
    error_line(cli("vvc", "encode", ws / "small.png", "--size", "9x", "-q", 40, "-o", ws / "t.266"), "small.png")
    assert not (ws / "t.266").exists()


def test_a_failed_encoder_names_a_log_that_still_exists(tmp_path, monkeypatch):
    from vcm.codec.external import run_logged

    monkeypatch.setenv("VCM_CACHE_DIR", str(tmp_path / "cache"))
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    with pytest.raises(VcmError) as e:
        run_logged([sys.executable, "-c", "import sys; print('Error: no such fps 0'); sys.exit(3)"],
                   tmp / "enc.log", "test encoder")
    shutil.rmtree(tmp)  # as the encoder's temp folder is removed while the error propagates
    named = Path(str(e.value).split(":")[0])
    assert named.exists() and "no such fps 0" in named.read_text() and "no such fps 0" in str(e.value)


def test_cache_entry_with_a_flipped_byte_is_not_served(tmp_path):
    from vcm.codec import EncodeParams, encode, picture_to_clip
    from vcm.codec.cache import EncodeCache
    from vcm.media import read_picture

    clip = picture_to_clip(read_picture(_picture(tmp_path / "p.png")))
    cache = EncodeCache(tmp_path / "cache")
    first = encode(clip, EncodeParams(qp=40), out=tmp_path / "a.266", cache=cache)
    assert not first.cached
    assert encode(clip, EncodeParams(qp=40), out=tmp_path / "b.266", cache=cache).cached
    entry = next((tmp_path / "cache").glob("*/*.266"))
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0x10
    entry.write_bytes(bytes(data))  # same size, one bit different
    again = encode(clip, EncodeParams(qp=40), out=tmp_path / "c.266", cache=cache)
    assert not again.cached
    assert (tmp_path / "c.266").read_bytes() == (tmp_path / "a.266").read_bytes() == entry.read_bytes()


def test_no_cache_leaves_no_temp_folders_and_state_stays_in_the_cache_dir(tmp_path, nanodet_weights):
    _picture(tmp_path / "p.png")
    # The default detector (nanodet) reads its verified weights from a copy of the weights folder (VCM_WEIGHTS_DIR),
    # which must stay as it was: the ONNX translation goes to VCM_CACHE_DIR too (issue 24). A fresh HOME catches
    # what libraries write there (matplotlib's font cache and config folder: vcm bdrate and vcm benchmark).
    weights = tmp_path / "weights"
    shutil.copytree(nanodet_weights.parent, weights / "nanodet",
                    ignore=shutil.ignore_patterns("*.onnx"))  # an old vcm cached its translation there
    env = {"TMPDIR": str(tmp_path / "tmp"), "VCM_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path / "home"),
           "VCM_WEIGHTS_DIR": str(weights)}
    for d in ("tmp", "home", "pics"):
        (tmp_path / d).mkdir()
    weights_before = tree(weights)
    r = sub("encode", tmp_path / "p.png", "-o", tmp_path / "p.266", "--jrd", "fixed:40", "--no-cache", "--no-check",
            env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("vcm-")]
    assert (tmp_path / "cache" / "ffmpeg-info.json").is_file()
    assert list((tmp_path / "cache" / "translations").glob("nanodet.*.onnx"))
    for name in ("a.csv", "t.csv"):
        (tmp_path / name).write_text("rate,quality\n1,0.5\n2,0.6\n3,0.7\n4,0.8\n")
    r = sub("bdrate", tmp_path / "a.csv", tmp_path / "t.csv", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    shutil.copy(tmp_path / "p.png", tmp_path / "pics" / "p.png")
    r = sub("benchmark", tmp_path / "pics", "-o", tmp_path / "rep", "--modes", "plain", "--qps", "40,45,50,55",
            "--detector", "hog-person", "-q", env=env)
    assert r.returncode == 0 and (tmp_path / "rep" / "rd.png").is_file(), r.stdout + r.stderr
    assert not any((tmp_path / "home").rglob("*"))  # nothing written outside VCM_CACHE_DIR
    assert tree(weights) == weights_before


# ---------------------------------------------------------------------------------- 7. odd sizes round trip
def test_odd_sized_picture_comes_back_its_own_size(ws):
    import cv2

    from vcm.codec import decode

    _picture(ws / "odd.png", 33, 17)
    r = cli("vvc", "encode", ws / "odd.png", "-q", 35, "-o", ws / "odd.266")
    assert r.exit_code == 0, r.output
    assert cli("vvc", "decode", ws / "odd.266", "-o", ws / "back.png").exit_code == 0
    assert cv2.imread(str(ws / "back.png")).shape == (17, 33, 3)
    assert cli("decode", ws / "odd.266", "-o", ws / "back2.png").exit_code == 0
    assert cv2.imread(str(ws / "back2.png")).shape == (17, 33, 3)
    assert cli("vvc", "decode", ws / "odd.266", "-o", ws / "c.png", "--crop", "32x16").exit_code == 0
    assert cv2.imread(str(ws / "c.png")).shape == (16, 32, 3)
    frames = decode(ws / "odd.266")  # a decoder that knows nothing of the SEI still decodes the stream
    assert (frames[0].width, frames[0].height) == (34, 18)


# -------------------------------------------------------------------- already right: keep them that way
@pytest.mark.parametrize("kind", ["zero", "random", "truncated"])
def test_broken_pictures(ws, kind, bus_jpg):
    bad = ws / "bad.jpg"
    data = bus_jpg.read_bytes()
    bad.write_bytes({"zero": b"", "random": os.urandom(5000), "truncated": data[: len(data) // 3]}[kind])
    before = tree(ws)
    for args in (["vvc", "encode", bad, "-q", 40, "-o", ws / "o.266"],
                 ["encode", bad, "-o", ws / "o.266", "--jrd", "fixed:40"],
                 ["detect", bad, "--json", ws / "o.json"]):
        error_line(cli(*args), "bad.jpg")
    assert tree(ws) == before


@pytest.mark.parametrize("kind", ["zero", "random", "truncated", "flipped"])
def test_broken_streams(ws, kind):
    r = cli("encode", ws / "small.png", "-o", ws / "good.266", "--jrd", "fixed:40", "--no-check", "--no-compare")
    assert r.exit_code == 0, r.output
    data = bytearray((ws / "good.266").read_bytes())
    if kind == "flipped":
        data[len(data) // 2] ^= 0x01
    bad = ws / "bad.266"
    bad.write_bytes({"zero": b"", "random": os.urandom(3000), "truncated": bytes(data[: len(data) // 2]),
                     "flipped": bytes(data)}[kind])
    before = tree(ws)
    error_line(cli("decode", bad, "-o", ws / "o.png"), "bad.266")
    if kind != "flipped":  # plain VVC decoding has no checksum: a flipped byte may decode (to a wrong picture)
        error_line(cli("vvc", "decode", bad, "-o", ws / "o.png"), "bad.266", alone=False)
    assert tree(ws) == before


@pytest.mark.parametrize("w, h", [(16, 16), (16, 4000), (4000, 16), (17, 31)])
def test_extreme_sizes_round_trip(ws, w, h):
    import cv2

    _picture(ws / "p.png", w, h)
    assert cli("vvc", "encode", ws / "p.png", "-q", 45, "-o", ws / "p.266").exit_code == 0
    assert cli("vvc", "decode", ws / "p.266", "-o", ws / "d.png").exit_code == 0
    assert cv2.imread(str(ws / "d.png")).shape == (h, w, 3)


def test_one_pixel_picture_is_refused_naming_it(ws):
    _picture(ws / "one.png", 1, 1)
    error_line(cli("vvc", "encode", ws / "one.png", "-q", 40, "-o", ws / "o.266"), "one.png", "too small")
    assert not (ws / "o.266").exists()


@pytest.mark.parametrize("kind", ["grey", "rgba", "16bit"])
def test_grey_alpha_and_16_bit_pictures_code(ws, kind):
    import cv2

    rng = np.random.default_rng(1)
    a = {"grey": rng.integers(0, 255, (40, 60), dtype=np.uint8),
         "rgba": rng.integers(0, 255, (40, 60, 4), dtype=np.uint8),
         "16bit": rng.integers(0, 65535, (40, 60, 3), dtype=np.uint16)}[kind]
    cv2.imwrite(str(ws / "p.png"), a)
    before = (ws / "p.png").read_bytes()
    assert cli("vvc", "encode", ws / "p.png", "-q", 40, "-o", ws / "p.266").exit_code == 0
    assert cli("vvc", "decode", ws / "p.266", "-o", ws / "d.png").exit_code == 0
    assert cv2.imread(str(ws / "d.png")).shape == (40, 60, 3)
    assert (ws / "p.png").read_bytes() == before


def test_bad_csv_and_json(ws):
    (ws / "a.csv").write_text("rate,quality\n1,0.5\n2,x\n")
    (ws / "b.csv").write_text("rate,quality\n1,0.5\n2,0.6\n3,0.7\n4,0.8\n")
    error_line(cli("bdrate", ws / "a.csv", ws / "b.csv"), "a.csv")
    (ws / "bad.json").write_text('{"images": [')
    error_line(cli("map", "--gt", ws / "bad.json", "--pred", ws / "bad.json"), "bad.json")
    (ws / "list.json").write_text("[1, 2, 3]")
    error_line(cli("map", "--gt", ws / "list.json", "--pred", ws / "list.json"), "list.json")


@pytest.mark.parametrize("args, what", [
    (["encode", "{ws}/small.png", "--detector", "nosuch-detector"], "nosuch-detector"),
    (["encode", "{ws}/small.png", "--jrd", "nosuch:1"], "nosuch"),
    (["encode", "{ws}/small.png", "--encoder", "nosuch"], "nosuch"),
    (["vvc", "decode", "{s}", "-o", "{ws}/d.png", "--decoder", "nosuch"], "nosuch"),
    (["vvc", "encode", "{ws}/small.png", "-q", 64, "-o", "{ws}/o.266"], "64"),
    (["vvc", "encode", "{ws}/small.png", "-q", -1, "-o", "{ws}/o.266"], "-1"),
    (["encode", "{ws}/small.png", "--bg-qp", 70], "--bg-qp"),
    (["detect", "{ws}/small.png", "--detector", "{ws}/small.png"], "small.png"),
])
def test_unknown_specs_and_out_of_range_qps(ws, small_266, args, what):
    before = tree(ws)
    error_line(cli(*[str(a).format(ws=ws, s=small_266) for a in args]), what)
    assert tree(ws) == before


@pytest.mark.parametrize("name", ["with space.png", "ünïcødé 图.png", "-dash.png"])
def test_awkward_names(ws, name):
    import cv2

    shutil.copy(ws / "small.png", ws / name)
    out = name.replace(".png", ".266")
    r = cli("vvc", "encode", f"./{name}", "-q", 40, "-o", f"./{out}", cwd=ws)
    assert r.exit_code == 0, r.output
    r = cli("vvc", "decode", "-o", "./back.png", "--", out, cwd=ws) if name.startswith("-") else \
        cli("vvc", "decode", out, "-o", "back.png", cwd=ws)
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(ws / "back.png")).shape == (48, 64, 3)
    error_line(cli("vvc", "encode", f"./{name}", "-q", 40, "-o", f"./{name}", cwd=ws), name)


# ===================================================================== round two (issue 24): see docs/BAD_INPUT.md
def _all_commands():
    """Every leaf command of `vcm` (sub-commands of groups too), as the CLI builds them."""
    import click

    ctx = click.Context(main)
    out = []
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        subs = cmd.commands.items() if isinstance(cmd, click.Group) else [("", cmd)]
        out += [(f"{name} {sub}".strip(), c) for sub, c in subs]
    return out


def test_every_output_option_of_every_command_passes_the_one_guard():
    import click

    from vcm.cli import OUTPUT_FLAGS

    outputs = 0
    for name, cmd in _all_commands():
        paths = [p for p in cmd.params if isinstance(p.type, click.Path)]
        if any(set(p.opts) & OUTPUT_FLAGS for p in paths):
            outputs += 1
            assert getattr(cmd.callback, "__wrapped__", None) is not None, f"vcm {name} is not guarded"
        for p in cmd.params:  # an option that writes a file is named as one, so the guard knows it
            if isinstance(p, click.Option) and p.name in ("json_path", "json_out", "out", "out_dir", "output"):
                assert set(p.opts) & OUTPUT_FLAGS, (name, p.opts)
    assert outputs >= 12


def test_json_equal_to_an_input_is_refused_by_bdrate_map_and_jrd_score(ws):
    for name in ("a.csv", "t.csv"):
        (ws / name).write_text("rate,quality\n1,0.5\n2,0.6\n3,0.7\n4,0.8\n")
    (ws / "d.json").write_text(json.dumps({"images": [{"file": "a.png", "width": 64, "height": 48, "detections": [
        {"box": [1, 2, 30, 40], "label": "person", "class_id": 0, "score": 0.9}]}]}))
    _jrd_file(ws / "g.json", ["40", "30"])
    _jrd_file(ws / "p.json", ["41", "30"], key="PreOWJRD")
    before = tree(ws)
    error_line(cli("bdrate", ws / "a.csv", ws / "t.csv", "--json", ws / "a.csv"), "--json", "a.csv", "overwritten")
    error_line(cli("bdrate", ws / "a.csv", ws / "t.csv", "--json", ws / "t.csv"), "--json", "t.csv", "overwritten")
    error_line(cli("map", "--gt", ws / "d.json", "--pred", ws / "d.json", "--json", ws / "d.json"), "--json",
               "d.json", "overwritten")
    error_line(cli("jrd-score", "--gt", ws / "g.json", "--pred", ws / "p.json", "--json", ws / "p.json"), "--json",
               "p.json", "overwritten")
    assert tree(ws) == before
    r = cli("map", "--gt", ws / "d.json", "--pred", ws / "d.json", "--json", ws / "m.json")  # the control
    assert r.exit_code == 0 and json.loads((ws / "m.json").read_text())["map50"] == 1.0, r.output


def test_coco_files_vcm_writes_share_one_id_scheme(ws, bus_jpg):
    shutil.copy(bus_jpg, ws / "bus.jpg")
    r = cli("detect", ws / "bus.jpg", "--coco-gt", ws / "g.json", "--coco", ws / "r.json")
    assert r.exit_code == 0, r.output
    gt, res = json.loads((ws / "g.json").read_text()), json.loads((ws / "r.json").read_text())
    names = {c["id"]: c["name"] for c in gt["categories"]}
    assert names[1] == "person" and names[6] == "bus" and names[90] == "toothbrush" and 0 not in names
    used = {a["category_id"] for a in gt["annotations"]}
    assert {names[i] for i in used} == {"person", "bus"} and {x["category_id"] for x in res} == used
    r = cli("map", "--gt", ws / "g.json", "--pred", ws / "r.json", "--json", ws / "m.json")
    assert r.exit_code == 0, r.output
    m = json.loads((ws / "m.json").read_text())
    assert m["map50"] == 1.0 and set(k for k, v in m["per_class"].items() if v["n_gt"]) == {"person", "bus"}
    assert "bicycle" not in r.output and "train" not in r.output
    # the other scheme (0-based class ids, as an older vcm wrote) is refused, naming it, in either file
    old = dict(gt, categories=[{"id": i, "name": n} for i, n in enumerate(["person", "bicycle", "car", "motorcycle",
                                                                          "airplane", "bus"])])
    old["annotations"] = [dict(a, category_id={1: 0, 6: 5}[a["category_id"]]) for a in gt["annotations"]]
    (ws / "old.json").write_text(json.dumps(old))
    error_line(cli("map", "--gt", ws / "old.json", "--pred", ws / "r.json"), "old.json", "0-based", "person = 0")
    (ws / "r0.json").write_text(json.dumps([dict(x, category_id={1: 0, 6: 5}[x["category_id"]]) for x in res]))
    error_line(cli("map", "--gt", ws / "g.json", "--pred", ws / "r0.json"), "r0.json", "0-based", "category_id 0")


def test_scan_refuses_a_pickle_in_front_of_a_checkpoint_zip(tmp_path, ws):
    """A pickle payload followed by a normal torch.save zip: Python's zipfile finds the zip (harmless data.pkl),
    but torch.load reads the leading pickle. The scan must read what torch reads."""
    import io

    import torch

    from vcm.safety import check_weights_file

    marker = tmp_path / "MARK"
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, buf)
    poly = tmp_path / "poly.pt"
    poly.write_bytes(pickle.dumps(_Payload(marker)) + buf.getvalue())
    assert zipfile.is_zipfile(poly)  # what fooled the scan
    try:
        torch.load(poly, weights_only=False)  # the control: torch runs the leading pickle
    except Exception:  # noqa: BLE001 - what the payload returns is no checkpoint; it ran anyway
        pass
    assert marker.exists()
    marker.unlink()
    with pytest.raises(VcmError, match="before the zip"):
        check_weights_file(poly)
    error_line(sub("detect", ws / "small.png", "--detector", poly), poly, "before the zip")
    assert not marker.exists()
    # a zip with junk between its own header and the real first entry (first local header not at offset 0)
    shifted = tmp_path / "shifted.pt"
    shifted.write_bytes(b"PK\x03\x04" + b"\0" * 60 + buf.getvalue())
    with pytest.raises(VcmError):
        check_weights_file(shifted)
    plain = tmp_path / "plain.pt"  # the control: the same checkpoint alone passes
    plain.write_bytes(buf.getvalue())
    assert "torch._utils._rebuild_tensor_v2" in check_weights_file(plain)


@pytest.mark.parametrize("classes", ["", ",,,", " , "])
def test_classes_that_name_no_class(ws, classes):
    before = tree(ws)
    error_line(cli("detect", ws / "small.png", "--classes", classes, "--json", ws / "d.json"), "--classes",
               "names no class")
    error_line(cli("encode", ws / "small.png", "--classes", classes, "-o", ws / "e.266", "--jrd", "fixed:40"),
               "--classes")
    assert tree(ws) == before


def test_bdrate_header_naming_a_column_twice(ws):
    (ws / "d.csv").write_text("rate,quality,quality\n1,0.5,0.1\n2,0.6,0.2\n3,0.7,0.3\n4,0.8,0.9\n")
    (ws / "t.csv").write_text("rate,quality\n1,0.5\n2,0.6\n3,0.7\n4,0.8\n")
    error_line(cli("bdrate", ws / "d.csv", ws / "t.csv"), "d.csv", "quality more than once")
    error_line(cli("bdrate", ws / "t.csv", ws / "d.csv"), "d.csv", "line 1")


@pytest.mark.parametrize("bad", ["350", "-41", "35.5", "64"])
def test_jrd_score_refuses_jrds_outside_the_qp_range(ws, bad):
    gt = _jrd_file(ws / "gt.json", ["40", "30"])
    error_line(cli("jrd-score", "--gt", gt, "--pred", _jrd_file(ws / "pred.json", ["40", bad], key="PreOWJRD")),
               "pred.json", "1_1", "0..63")
    error_line(cli("jrd-score", "--gt", _jrd_file(ws / "g2.json", [bad, "30"]), "--pred", gt), "g2.json", "1_0")
    ok = cli("jrd-score", "--gt", gt, "--pred", _jrd_file(ws / "pred.json", ["63", "0"], key="PreOWJRD"))
    assert ok.exit_code == 0 and "MAE: 26.500" in ok.output, ok.output


def test_map_with_a_detections_file_that_covers_no_picture(ws, detections):
    gt, doc = detections
    (ws / "none.json").write_text(json.dumps(dict(doc, images=[])))
    error_line(cli("map", "--gt", gt, "--pred", ws / "none.json"), "none.json", "no predictions for 1")
    error_line(cli("map", "--gt", gt, "--pred", ws / "none.json", "--match", "order"), "none.json",
               "0 predicted pictures but 1")


def test_fifo_in_batch_and_label_folders_is_a_failed_row_not_a_hang(ws):
    import csv

    src = ws / "in"
    src.mkdir()
    shutil.copy(ws / "small.png", src / "a.png")
    os.mkfifo(src / "pipe.jpg")  # opening it would wait for a writer forever
    r = sub("batch", src, "-o", ws / "out", "--mode", "plain", "--qp", 45, "--quiet", timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    rows = {row["input"]: row for row in csv.DictReader(open(ws / "out" / "manifest.csv"))}
    assert rows["a.png"]["status"] == "ok"
    assert rows["pipe.jpg"]["status"] == "failed" and "not a regular file" in rows["pipe.jpg"]["error"]
    _png_header(src / "bomb.png", 20_000, 20_000)  # label fails a decompression bomb alone too
    r = sub("label", src, "-o", ws / "lab", "--qps", "40,50", "--detector", "hog-person", "-q", timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "FAILED pipe.jpg" in out and "not a regular file" in out, out
    assert "FAILED bomb.png" in out and "20000x20000" in out and "pictures: 3 (1 labelled now" in out, out


def _png_header(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims WxH with almost no data: the few hundred bytes of a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_refused_before_decoding(ws):
    bomb = _png_header(ws / "bomb.png", 100_000, 100_000)
    before = tree(ws)
    for args in (["vvc", "encode", bomb, "-q", 40, "-o", ws / "o.266"],
                 ["encode", bomb, "-o", ws / "o.266", "--jrd", "fixed:40"],
                 ["detect", bomb, "--json", ws / "o.json"]):
        error_line(cli(*args), "bomb.png", "100000x100000", "limit of 67.1", "VCM_MAX_PIXELS=10000000000")
    assert tree(ws) == before
    # the limit and its override, on a real picture: 64x48 = 3072 pixels
    r = sub("vvc", "encode", ws / "small.png", "-q", 40, "-o", ws / "o.266", env={"VCM_MAX_PIXELS": "3000"})
    error_line(r, "small.png", "64x48", "VCM_MAX_PIXELS=3072")
    r = sub("vvc", "encode", ws / "small.png", "-q", 40, "-o", ws / "o.266", env={"VCM_MAX_PIXELS": "3072"})
    assert r.returncode == 0 and (ws / "o.266").is_file(), r.stdout + r.stderr


def test_a_bomb_in_a_batch_folder_fails_that_picture_only(ws):
    import csv

    src = ws / "in"
    src.mkdir()
    shutil.copy(ws / "small.png", src / "a.png")
    _png_header(src / "bomb.png", 20_000, 20_000)
    r = cli("batch", src, "-o", ws / "out", "--mode", "plain", "--qp", 45, "--quiet")
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    rows = {row["input"]: row for row in csv.DictReader(open(ws / "out" / "manifest.csv"))}
    assert rows["a.png"]["status"] == "ok"
    assert rows["bomb.png"]["status"] == "failed" and "20000x20000" in rows["bomb.png"]["error"]
    assert not (ws / "out" / rows["bomb.png"]["output"]).exists()


def test_a_bomb_in_a_benchmark_folder_fails_that_picture_only(ws):
    """The benchmark names the picture and goes on over the others; the report lists it as failed."""
    src = ws / "in"
    src.mkdir()
    shutil.copy(ws / "small.png", src / "a.png")
    _png_header(src / "bomb.png", 20_000, 20_000)
    r = cli("benchmark", src, "-o", ws / "rep", "--modes", "plain", "--qps", "37,47", "-q")
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "skipped" in r.output and "bomb.png" in r.output and "20000x20000" in r.output, r.output
    summary = json.loads((ws / "rep" / "summary.json").read_text())
    assert summary["picture_names"] == ["a.png"] and any("bomb.png" in k for k in summary["run"]["failed"])


def test_corrupt_cached_translation_is_rebuilt_from_the_checked_model(tmp_path, ws, nanodet_weights):
    env = {"VCM_CACHE_DIR": str(tmp_path / "cache")}
    r = sub("detect", ws / "small.png", "--json", tmp_path / "a.json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    onnx_file = next((tmp_path / "cache" / "translations").glob("nanodet.*.onnx"))
    good = onnx_file.read_bytes()
    data = bytearray(good)
    data[100:107] = b"garbage"  # what broke every detecting command ("unexpected InvalidProtobuf")
    onnx_file.write_bytes(bytes(data))
    r = sub("detect", ws / "small.png", "--json", tmp_path / "b.json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert onnx_file.read_bytes() == good  # rebuilt, the same translation
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["images"] == b["images"]


def test_animated_gif_warns_that_only_its_first_frame_is_coded(ws):
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(ws / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    r = cli("encode", ws / "anim.gif", "-o", ws / "a.266", "--jrd", "fixed:40", "--no-check", "--no-compare")
    assert r.exit_code == 0, r.output
    assert "warning" in r.output and "anim.gif" in r.output and "3 frames" in r.output \
        and "first frame" in r.output, r.output
    frames[0].save(ws / "still.gif")
    r = cli("encode", ws / "still.gif", "-o", ws / "s.266", "--jrd", "fixed:40", "--no-check", "--no-compare")
    assert r.exit_code == 0 and "warning" not in r.output, r.output


@pytest.mark.parametrize("what", ["map", "detect"])
def test_a_reader_that_stops_early_ends_the_command_quietly(ws, detections, tmp_path, what):
    gt, _doc = detections
    args = {"map": ["map", "--gt", gt, "--pred", ws / "det.json"], "detect": ["detect", ws / "small.png", "--json", "-"]}[what]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               VCM_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.Popen([sys.executable, "-m", "vcm.cli", *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    p.stdout.close()  # as `| head -0` would: every write to stdout now breaks the pipe
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and err == "", err
    assert not (tmp_path / "cache" / "errors").exists()  # no traceback saved either


def test_benchmark_records_the_checkout_without_touching_its_index(tmp_path):
    """`git status` refreshes and rewrites .git/index (taking index.lock) when file times changed; vcm's
    record of the checkout must read it only (`--no-optional-locks`)."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "vcm", repo / "vcm", ignore=shutil.ignore_patterns("__pycache__"))
    run = dict(cwd=repo, check=True, capture_output=True)
    subprocess.run([git, "init", "-q"], **run)
    subprocess.run([git, "add", "-A"], **run)
    subprocess.run([git, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"], **run)
    index = repo / ".git" / "index"
    st = (repo / "vcm" / "qp.py").stat()
    os.utime(repo / "vcm" / "qp.py", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same bytes, new time
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    code = "import vcm; from vcm.pipelines.benchmark import _git_revision as g; print(vcm.__file__, g())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=str(repo)), check=False)
    where, rev = r.stdout.split()
    assert where == str(repo / "vcm" / "__init__.py") and len(rev) == 12, r.stdout + r.stderr  # clean: no "+dirty"
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert not (repo / ".git" / "index.lock").exists()
