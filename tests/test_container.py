"""The vcm output file (vcm/container.py): real libvvenc streams, real decoders, real corruption."""
from __future__ import annotations

import itertools
import os
import random
import re
import subprocess

import numpy as np
import pytest

from vcm.codec import EncodeParams, decode, encode, picture_to_clip, read_picture
from vcm.bitstream import NUT_PPS, NUT_PREFIX_SEI, NUT_SPS, escape, iter_nal_units, picture_size, unescape
from vcm.container import (FORMAT_VERSION, VCM_UUID, StreamEntry, VcmFile, decode_vcm_file, is_vcm_file,
                           overhead_bytes, pack_vcm_file, read_vcm_file, unpack_vcm_file, write_vcm_file)
from vcm.errors import VcmError

# Placements of the object crops inside the 768x576 background (x, y, w, h).
RECTS = {"tall": (200, 100, 128, 256), "ctu": (400, 300, 64, 96), "odd": (13, 11, 71, 51)}


@pytest.fixture(scope="module")
def pictures(astronaut_png):
    import cv2

    big = cv2.resize(read_picture(astronaut_png), (768, 576), interpolation=cv2.INTER_AREA)
    crops = {k: big[y:y + h, x:x + w].copy() for k, (x, y, w, h) in RECTS.items()}
    return big, crops


@pytest.fixture(scope="module")
def streams(pictures, tmp_path_factory):
    """Real bitstreams: background 768x576 at QP 45, crops 128x256 / 64x96 / 71x51 at lower QPs, 767x575."""
    import cv2

    big, crops = pictures
    qps = {"bg": 45, "tall": 30, "ctu": 25, "odd": 22, "oddbg": 40}
    pics = {"bg": big, **crops, "oddbg": cv2.resize(big, (767, 575), interpolation=cv2.INTER_AREA)}
    out = {}
    for k, rgb in pics.items():
        res = encode(picture_to_clip(rgb), EncodeParams(qp=qps[k]))
        assert res.slice_qps == [qps[k]]
        out[k] = res.bitstream.read_bytes()
    return out, qps


@pytest.fixture(scope="module")
def alone(streams, tmp_path_factory):
    """Each stream decoded by itself (vcm.codec.decode, one thread)."""
    d = tmp_path_factory.mktemp("alone")
    out = {}
    for k, data in streams[0].items():
        p = d / f"{k}.266"
        p.write_bytes(data)
        frames = decode(p)
        assert len(frames) == 1
        out[k] = frames[0]
    return out


def same(a, b) -> bool:
    return all(np.array_equal(getattr(a, c), getattr(b, c)) for c in "yuv")


def make_file(streams, order=("tall", "ctu", "odd"), bg="bg", matrix="bt709") -> VcmFile:
    data, qps = streams
    w, h = (768, 576) if bg == "bg" else (767, 575)
    entries = [StreamEntry("background", (0, 0, w, h), qps[bg], data[bg])]
    entries += [StreamEntry("object", RECTS[k], qps[k], data[k]) for k in order]
    return VcmFile(w, h, matrix, entries)


def pyav_decode_all(path):
    """The whole file through plain PyAV, as any ffmpeg-based player would: every picture in order."""
    import av

    from vcm.codec.ffmpeg import _frame_to_yuv

    with av.open(str(path), format="vvc") as c:
        st = c.streams.video[0]
        st.codec_context.thread_count = 1
        return [_frame_to_yuv(f) for f in c.decode(st)]


# ------------------------------------------------------------------------------------------- Annex-B basics
def test_escape_roundtrip_and_no_start_code_emulation():
    rng = random.Random(7)
    for n in range(300):
        raw = bytes(rng.choice((0, 0, 0, 1, 2, 3, 0x80, rng.randrange(256))) for _ in range(rng.randrange(1, 60)))
        esc = escape(raw)
        assert unescape(esc) == raw
        for i in range(len(esc) - 2):
            assert not (esc[i] == 0 and esc[i + 1] == 0 and esc[i + 2] <= 2), (raw.hex(), esc.hex())
    assert escape(b"\x00\x00\x01") == b"\x00\x00\x03\x01"
    assert escape(b"\x00\x00\x00\x00") == b"\x00\x00\x03\x00\x00"


def test_nal_units_and_picture_size_of_real_streams(streams, alone):
    data, _ = streams
    types = [n.type for n in iter_nal_units(data["bg"])]
    assert NUT_SPS in types and NUT_PPS in types and any(t <= 11 for t in types)
    for k, s in data.items():
        f = alone[k]
        assert picture_size(s) == (f.width, f.height), k  # what the decoder returns, read from SPS/PPS
    assert picture_size(data["odd"]) == (72, 52)  # 71x51 coded padded to even


# ---------------------------------------------------------------------------------- round trip, bit identity
@pytest.mark.parametrize("order", list(itertools.permutations(["tall", "ctu", "odd"])))
def test_every_stream_from_the_file_decodes_bit_identical_to_it_alone(streams, alone, tmp_path, order):
    vf = make_file(streams, order)
    path = tmp_path / "pic.266"
    size = write_vcm_file(path, vf)
    assert size == path.stat().st_size and is_vcm_file(path)

    back = read_vcm_file(path)
    assert (back.width, back.height, back.matrix, back.plain) == (768, 576, "bt709", False)
    assert [(s.role, s.rect, s.qp, s.data) for s in back.streams] == \
           [(s.role, s.rect, s.qp, s.data) for s in vf.streams]

    decoded = decode_vcm_file(path)
    keys = ["bg", *order]
    assert [e.rect for e, _ in decoded] == [s.rect for s in vf.streams]
    for k, (entry, frame) in zip(keys, decoded):
        assert same(frame, alone[k]), k
        assert frame.display == entry.size

    # plain PyAV on the whole file ignores our SEI: background first, every picture bit-identical
    whole = pyav_decode_all(path)
    assert len(whole) == len(keys)
    for k, frame in zip(keys, whole):
        assert same(frame, alone[k]), k


@pytest.mark.parametrize("order", list(itertools.permutations(["bg", "tall", "ctu"])))
def test_concatenated_sequences_of_three_sizes_decode_at_their_own_sizes(streams, alone, tmp_path, order):
    """The fact the format rests on: 768x576, 128x256 and 64x96 sequences back to back, in every order."""
    path = tmp_path / "cat.266"
    path.write_bytes(b"".join(streams[0][k] for k in order))
    frames = decode(path)
    assert [(f.width, f.height) for f in frames] == [(alone[k].width, alone[k].height) for k in order]
    for k, f in zip(order, frames):
        assert same(f, alone[k]), k


def test_ffmpeg_command_line_decodes_the_file_background_first(streams, alone, tmp_path):
    path = tmp_path / "pic.266"
    write_vcm_file(path, make_file(streams))
    frames = decode(path, "ffmpeg")
    # (the ffmpeg CLI writes one y4m, so it rescales the later, smaller pictures to the first one's size)
    assert len(frames) == 4 and same(frames[0], alone["bg"])


def test_background_only_file_decodes(streams, alone, tmp_path):
    data, qps = streams
    vf = VcmFile(768, 576, "bt601", [StreamEntry("background", (0, 0, 768, 576), qps["bg"], data["bg"])])
    path = tmp_path / "bg.266"
    write_vcm_file(path, vf)
    assert path.stat().st_size - len(data["bg"]) <= 32
    back = read_vcm_file(path)
    assert back.matrix == "bt601" and back.objects == [] and back.background.qp == 45
    [(entry, frame)] = decode_vcm_file(path)
    assert entry.role == "background" and same(frame, alone["bg"])
    assert same(pyav_decode_all(path)[0], alone["bg"])


def test_odd_sized_picture_keeps_its_display_size(streams, alone, tmp_path):
    vf = make_file(streams, order=("ctu", "odd"), bg="oddbg")
    path = tmp_path / "odd.266"
    write_vcm_file(path, vf)
    back = read_vcm_file(path)
    assert (back.width, back.height) == (767, 575)
    (bg_entry, bg_frame), _, (odd_entry, odd_frame) = decode_vcm_file(path)
    assert (bg_frame.width, bg_frame.height, bg_frame.display) == (768, 576, (767, 575))
    assert odd_entry.rect == RECTS["odd"] and odd_frame.display == (71, 51)
    assert same(bg_frame, alone["oddbg"]) and same(odd_frame, alone["odd"])


# ------------------------------------------------------------------------------------------------- overhead
def test_overhead_is_within_32_bytes_per_file_plus_16_per_object(streams, tmp_path):
    data, qps = streams
    rng = random.Random(3)
    for n in (0, 1, 2, 5, 20, 40):
        entries = [StreamEntry("background", (0, 0, 768, 576), qps["bg"], data["bg"])]
        for i in range(n):
            k = rng.choice(list(RECTS))
            x, y, w, h = RECTS[k]
            x, y = rng.choice([(0, 0), (x, y), (768 - w, 576 - h)])
            entries.append(StreamEntry("object", (x, y, w, h), rng.randrange(64), data[k]))
        vf = VcmFile(768, 576, "bt709", entries)
        path = tmp_path / f"n{n}.266"
        write_vcm_file(path, vf)
        overhead = path.stat().st_size - sum(len(e.data) for e in entries)
        assert overhead == overhead_bytes(vf)
        assert overhead <= 32 + 16 * n, (n, overhead)
        assert read_vcm_file(path).streams == entries


# ----------------------------------------------------------------------------------------- damaged files
@pytest.fixture(scope="module")
def good_file(streams, tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "pic.266"
    write_vcm_file(path, make_file(streams))
    return path


def test_every_truncation_is_rejected_with_a_clear_error(good_file, tmp_path):
    data = good_file.read_bytes()
    bad = tmp_path / "cut.266"
    messages = set()
    for n in range(1, len(data)):  # every possible cut, including at stream boundaries
        with pytest.raises(VcmError) as e:
            unpack_vcm_file(data[:n], bad)
        msg = str(e.value)
        assert msg.startswith(f"{bad}:") and "Fix:" in msg and "\n" not in msg
        messages.add(msg.split(":")[1].strip())
    assert "corrupt vcm file" in messages
    bad.write_bytes(data[:len(data) - 1])  # through the file API too
    with pytest.raises(VcmError, match="truncated"):
        read_vcm_file(bad)
    with pytest.raises(VcmError, match="truncated"):
        decode_vcm_file(bad)


def test_every_flipped_byte_is_rejected_before_decoding(good_file, tmp_path):
    data = good_file.read_bytes()
    for i in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            broken = bytearray(data)
            broken[i] ^= mask
            with pytest.raises(VcmError):
                unpack_vcm_file(bytes(broken), "x.266")
    bad = tmp_path / "flip.266"
    broken = bytearray(data)
    broken[len(data) // 2] ^= 0x10
    bad.write_bytes(bytes(broken))
    with pytest.raises(VcmError, match=r"flip\.266: corrupt vcm file: checksum mismatch.*Fix: re-encode"):
        decode_vcm_file(bad)


def test_damaged_sei_is_not_mistaken_for_a_plain_file(good_file):
    data = bytearray(good_file.read_bytes())
    at = bytes(data).find(VCM_UUID)
    assert at > 0
    data[at:at + 5] = b"\x55" * 5  # 5 of 16 UUID bytes destroyed: no longer our SEI, but still recognisable
    with pytest.raises(VcmError, match="placement SEI is damaged"):
        unpack_vcm_file(bytes(data))


def test_unknown_version_is_refused(streams, monkeypatch):
    import vcm.container as container

    monkeypatch.setattr(container, "FORMAT_VERSION", FORMAT_VERSION + 1)
    blob = pack_vcm_file(make_file(streams))
    monkeypatch.setattr(container, "FORMAT_VERSION", FORMAT_VERSION)
    with pytest.raises(VcmError, match=f"version {FORMAT_VERSION + 1} is not supported"):
        unpack_vcm_file(blob)


# ------------------------------------------------------------------------------------- plain and foreign files
def test_plain_vvc_file_reads_as_one_background_stream(streams, alone, tmp_path):
    path = tmp_path / "plain.266"
    path.write_bytes(streams[0]["bg"])
    assert not is_vcm_file(path)
    vf = read_vcm_file(path)
    assert vf.plain and (vf.width, vf.height) == (768, 576) and vf.background.qp is None
    assert vf.background.data == streams[0]["bg"] and vf.objects == []
    [(entry, frame)] = decode_vcm_file(path)
    assert same(frame, alone["bg"])


def test_foreign_and_empty_files_are_rejected(astronaut_png, tmp_path):
    assert not is_vcm_file(astronaut_png)
    with pytest.raises(VcmError, match="not a VVC Annex-B stream"):
        read_vcm_file(astronaut_png)
    empty = tmp_path / "empty.266"
    empty.write_bytes(b"")
    with pytest.raises(VcmError, match="empty"):
        read_vcm_file(empty)
    with pytest.raises(VcmError, match="no such file"):
        read_vcm_file(tmp_path / "missing.266")


# ------------------------------------------------------------------------------------------------- writing
def test_writer_refuses_inconsistent_files_and_leaves_nothing(streams, tmp_path):
    data, qps = streams
    good = make_file(streams)
    bad_cases = [
        VcmFile(768, 576, "bt2020", good.streams),
        VcmFile(768, 576, "bt709", good.streams[1:]),  # no background first
        VcmFile(768, 576, "bt709", [StreamEntry("background", (0, 0, 700, 576), 45, data["bg"])]),
        VcmFile(768, 576, "bt709", [good.streams[0], StreamEntry("object", (700, 0, 128, 256), 30, data["tall"])]),
        VcmFile(768, 576, "bt709", [good.streams[0], StreamEntry("object", (0, 0, 64, 64), 30, data["tall"])]),
        VcmFile(768, 576, "bt709", [good.streams[0], StreamEntry("object", RECTS["ctu"], 64, data["ctu"])]),
        VcmFile(768, 576, "bt709", [good.streams[0], StreamEntry("background", RECTS["ctu"], 30, data["ctu"])]),
    ]
    out = tmp_path / "x.266"
    for vf in bad_cases:
        with pytest.raises(ValueError):
            write_vcm_file(out, vf)
        assert not out.exists() and os.listdir(tmp_path) == []


def test_sei_sits_before_the_first_slice_of_the_first_stream(streams):
    blob = pack_vcm_file(make_file(streams))
    first = next(i for i, n in enumerate(iter_nal_units(blob)) if n.type <= 11)
    nals = list(iter_nal_units(blob))[:first + 1]
    assert nals[first - 1].type == NUT_PREFIX_SEI
    assert {NUT_SPS, NUT_PPS} <= {n.type for n in nals[:first - 1]}
    # a stock tool sees a normal VVC stream: ffmpeg's trace_headers parses every NAL unit of the file
    import imageio_ffmpeg

    r = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-f", "vvc", "-i", "-", "-c", "copy",
                        "-bsf:v", "trace_headers", "-f", "null", "-"], input=blob, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()[-500:]
    log = r.stderr.decode()
    assert log.count("User Data Unregistered") == 1  # ffmpeg's own SEI parser reads our message
    for i in (0, 15):
        assert re.search(rf"uuid_iso_iec_11578\[{i}\]\s+[01]{{8}} = {VCM_UUID[i]}\n", log)


def test_overhead_benchmark_tool_runs_and_reports_within_budget(capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "bench_container", Path(__file__).resolve().parents[1] / "tools" / "bench_container.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--pictures", "astronaut", "--counts", "0", "3", "--mkv-max", "0"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| astronaut")]
    assert [int(r[2]) for r in rows] == [0, 3]
    assert [int(r[5]) for r in rows][0] <= 32 and int(rows[1][5]) <= 32 + 16 * 3
    assert "within the budget" in out


def test_one_sei_reader_for_every_vcm_sei(streams):
    """Placement, video and display-size SEIs are written by insert_user_data_sei and found by
    find_user_data_sei (vcm.bitstream); a long payload (ff-coded size, escaped bytes) reads back whole."""
    from vcm.bitstream import find_user_data_sei, insert_user_data_sei
    from vcm.container import SIZE_UUID, add_display_size, read_display_size
    from vcm.video_container import VIDEO_UUID

    bg = streams[0]["bg"]
    payload = bytes(range(256)) * 2 + b"\x00\x00\x00\x01"
    for uuid in (VCM_UUID, VIDEO_UUID, SIZE_UUID):
        assert find_user_data_sei(bg, uuid) is None
        data = insert_user_data_sei(bg, uuid + payload)
        found = find_user_data_sei(data, uuid)
        assert found.data == payload and found.last and found.header == found.slice_header
        assert data[:found.start] + data[found.end:] == bg  # removing the SEI gives the stream back
        assert find_user_data_sei(data, bytes(16)) is None
    assert read_display_size(add_display_size(bg, 767, 575)) == (767, 575)
    assert read_display_size(bg) is None
