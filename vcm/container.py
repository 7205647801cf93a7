"""The vcm output file: every stream of one picture in ONE standard Annex-B `.266`, placement in an SEI.

The file is the concatenation of the pictures' VVC streams (background first, then one per object), each a
complete coded video sequence that any VVC decoder accepts; plain ffmpeg decodes the whole file and returns the
background first. A user_data_unregistered SEI (our UUID) inserted in the first access unit of the background
stream carries the format version, colour matrix, each stream's role, QP, placement and byte length, and a
CRC-32 of everything else, so a reader splits the file without guessing and rejects flipped bytes or a cut
before decoding anything. The byte layout and the reasons for it are in docs/FORMAT.md. A `.266` without our
SEI is read as a plain VVC file: one background stream covering the picture.
"""
from __future__ import annotations

import numbers
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vcm.bitstream import find_user_data_sei, insert_user_data_sei, iter_nal_units, picture_size
from vcm.errors import VcmError

if TYPE_CHECKING:
    from vcm.codec.base import YuvFrame

VCM_UUID = bytes.fromhex("d05729a21b2a466187c3c9d3393c2c44")  # no 0x00..0x03 byte: never needs escaping
FORMAT_VERSION = 1
MATRICES = ("bt601", "bt709")  # flag bit 0
ROLES = {"background": 1, "object": 2}  # role code in the top two bits of the role/QP byte (never 0)
_ROLE_NAMES = {v: k for k, v in ROLES.items()}
FIX = "re-encode it (vcm encode)"

_SCAN_BYTES = 1 << 16  # where a damaged vcm SEI is looked for (it always sits in the first access unit)

# Names a raw VVC bitstream must not take: a container, picture or raw-video name promises another format
# (a `.266` named `.mp4` plays nowhere). Any other name (`.266`, `.vvc`, `.h266`, `.bin`, none) is fine.
NOT_BITSTREAM_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mpg", ".mpeg", ".y4m", ".yuv",
                      ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".json", ".csv"}


_CONTAINERS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".ts"}
_PICTURES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def check_bitstream_name(path: str | Path) -> None:
    """Refuse writing the raw VVC file under a name that says it is something else (before any work)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext in NOT_BITSTREAM_EXTS:
        raw = p.with_suffix(".266").name
        if ext in _CONTAINERS:
            then = (f"; a single-stream file (--mode blur, frame or plain, or vcm vvc encode) goes into {ext} with "
                    f"`ffmpeg -i {raw} -c copy {p.name}`")
        else:
            then = f"; `vcm decode {raw} -o {p.name}` then gives the picture" if ext in _PICTURES else ""
        raise VcmError(f"vcm writes a raw VVC bitstream (Annex B), not a {ext} file", path=p,
                       fix=f"use -o {raw}{then}")


@dataclass(frozen=True)
class StreamEntry:
    """One VVC stream of the file and where its picture goes.

    rect = (x, y, w, h) in picture pixels; the stream is coded at (w, h) padded to even size. `qp` is the QP the
    stream was coded at (None in a plain VVC file, where it is not recorded). `data` is the stream exactly as the
    encoder wrote it (for the first stream: without our SEI), so it decodes alone.
    """

    role: str
    rect: tuple[int, int, int, int]
    qp: int | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> tuple[int, int]:
        return self.rect[2], self.rect[3]


@dataclass
class VcmFile:
    """One coded picture: display size, colour matrix, streams[0] = background covering the picture."""

    width: int
    height: int
    matrix: str
    streams: list[StreamEntry]
    plain: bool = False  # read from a .266 without the vcm SEI (matrix assumed, QP unknown)

    @property
    def background(self) -> StreamEntry:
        return self.streams[0]

    @property
    def objects(self) -> list[StreamEntry]:
        return self.streams[1:]

    @property
    def stream_bytes(self) -> int:
        return sum(len(s.data) for s in self.streams)


# ------------------------------------------------------------------------------------------- placement payload
def write_varint(v: int) -> bytes:
    """LEB128: 7 bits a byte, high bit = more follows (shared with vcm.video_container)."""
    if v < 0:
        raise ValueError(f"negative value {v}")
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def read_varint(buf: bytes, pos: int, end: int | None = None) -> tuple[int, int]:
    """Inverse of write_varint: (value, position after it); at most 7 bytes (49 bits)."""
    end = len(buf) if end is None else end
    v = shift = 0
    while True:
        if pos >= end or shift > 42:
            raise ValueError("record ends inside a number")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, pos


def _body(vf: VcmFile, odd_w: int, odd_h: int) -> bytes:
    """Placement record without UUID and CRC: header byte, then one entry per stream (see FORMAT.md)."""
    flags = MATRICES.index(vf.matrix) | odd_w << 1 | odd_h << 2
    out = bytearray([FORMAT_VERSION << 4 | flags])
    for i, s in enumerate(vf.streams):
        out.append(ROLES[s.role] << 6 | int(s.qp))
        if i:
            x, y, w, h = s.rect
            out += write_varint(x) + write_varint(y) + write_varint(w) + write_varint(h) + write_varint(len(s.data))
    return bytes(out)


def _check_for_writing(vf: VcmFile) -> tuple[int, int]:
    """Raise ValueError unless `vf` can be written; returns the background's (odd_w, odd_h) padding flags."""
    if vf.matrix not in MATRICES:
        raise ValueError(f"matrix must be one of {MATRICES}, not {vf.matrix!r}")
    if not vf.streams or vf.streams[0].role != "background":
        raise ValueError("the first stream must be the background")
    if vf.streams[0].rect != (0, 0, vf.width, vf.height):
        raise ValueError(f"the background must cover the picture (0, 0, {vf.width}, {vf.height}), "
                         f"not {vf.streams[0].rect}")
    pads = []
    for i, s in enumerate(vf.streams):
        if i and s.role != "object":
            raise ValueError(f"stream {i}: role must be 'object' after the background, not {s.role!r}")
        if not isinstance(s.qp, numbers.Integral) or isinstance(s.qp, bool) or not 0 <= s.qp <= 63:
            raise ValueError(f"stream {i}: QP must be an integer 0..63, not {s.qp!r}")
        x, y, w, h = s.rect
        if min(x, y) < 0 or w < 1 or h < 1 or x + w > vf.width or y + h > vf.height:
            raise ValueError(f"stream {i}: rect {s.rect} is not inside the {vf.width}x{vf.height} picture")
        cw, ch = picture_size(s.data)
        if cw - w not in (0, 1) or ch - h not in (0, 1):
            raise ValueError(f"stream {i}: coded size {cw}x{ch} does not fit its rect {w}x{h} "
                             "(it must be the rect padded to even size)")
        pads.append((cw - w, ch - h))
        if VCM_UUID in s.data[:_SCAN_BYTES]:
            raise ValueError(f"stream {i} already carries a vcm placement SEI (pass the bare encoder output)")
    return pads[0]


def pack_vcm_file(vf: VcmFile) -> bytes:
    """The file's bytes: streams concatenated, our SEI before the first slice (or PH) of the first stream."""
    odd_w, odd_h = _check_for_writing(vf)
    first = vf.streams[0].data
    body = _body(vf, odd_w, odd_h)
    crc = zlib.crc32(body)
    crc = zlib.crc32(first, crc)
    for s in vf.streams[1:]:
        crc = zlib.crc32(s.data, crc)
    payload = VCM_UUID + body + struct.pack(">I", crc)
    head = insert_user_data_sei(first, payload, limit=_SCAN_BYTES, what="background stream")
    return head + b"".join(s.data for s in vf.streams[1:])


def overhead_bytes(vf: VcmFile) -> int:
    """Bytes the file adds to its streams (the SEI NAL unit with its start code)."""
    return len(pack_vcm_file(vf)) - vf.stream_bytes


def write_vcm_file(path: str | Path, vf: VcmFile) -> int:
    """Write the file atomically (temp + rename); returns its size in bytes."""
    from vcm.fsutil import write_bytes_atomic

    data = pack_vcm_file(vf)
    write_bytes_atomic(path, data)
    return len(data)


# ------------------------------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class _Sei:
    start: int  # first byte of our SEI's start code in the file
    end: int  # one past its last byte
    body: bytes  # placement record (after UUID, before CRC)
    crc: int


def _find_sei(data: bytes) -> _Sei | None:
    """Our SEI before the first slice (vcm.bitstream.find_user_data_sei), or None.

    Raises ValueError when it is there but malformed, or its NAL header does not match the first slice's.
    """
    found = find_user_data_sei(data, VCM_UUID, _SCAN_BYTES)
    if found is None:
        return None
    if len(found.data) < 2 + 4 or not found.last:
        raise ValueError("the placement SEI is malformed")
    if found.slice_header is None:
        raise ValueError("no coded slice follows the placement SEI")
    if found.header != found.slice_header:
        raise ValueError("the placement SEI's NAL header is damaged")
    return _Sei(found.start, found.end, found.data[:-4], struct.unpack(">I", found.data[-4:])[0])


def _looks_like_damaged_sei(data: bytes) -> bool:
    """True when bytes close to our UUID (>= 10 of 16 equal) sit in the first access unit: a damaged vcm file."""
    import numpy as np

    head = np.frombuffer(data[:_SCAN_BYTES], dtype=np.uint8)
    if len(head) < 16:
        return False
    win = np.lib.stride_tricks.sliding_window_view(head, 16)
    return bool(((win == np.frombuffer(VCM_UUID, dtype=np.uint8)).sum(axis=1) >= 10).any())


def _corrupt(path: object, why: str) -> VcmError:
    return VcmError(f"corrupt vcm file: {why}", path=path, fix=FIX)


def unpack_vcm_file(data: bytes, path: object = "<bytes>") -> VcmFile:
    """Parse and verify a file's bytes (see read_vcm_file)."""
    if not data:
        raise VcmError("file is empty (0 bytes)", path=path, fix=FIX)
    if not (data.startswith(b"\x00\x00\x01") or data.startswith(b"\x00\x00\x00\x01")):
        raise VcmError("not a VVC Annex-B stream (it does not start with a start code)", path=path,
                       fix="give a .266 file written by vcm encode or a VVC encoder")
    try:
        sei = _find_sei(data)
    except ValueError as e:
        raise _corrupt(path, str(e)) from None
    if sei is None:
        if _looks_like_damaged_sei(data):
            raise _corrupt(path, "its placement SEI is damaged")
        return _read_plain(data, path)
    crc = zlib.crc32(sei.body)
    crc = zlib.crc32(data[:sei.start], crc)
    crc = zlib.crc32(data[sei.end:], crc)
    if crc != sei.crc:
        raise _corrupt(path, "checksum mismatch: the file is truncated or has changed bytes")
    try:
        return _parse_body(data, sei, path)
    except ValueError as e:
        raise _corrupt(path, str(e)) from None


def _parse_body(data: bytes, sei: _Sei, path: object) -> VcmFile:
    body = sei.body
    version, flags = body[0] >> 4, body[0] & 0x0F
    if version != FORMAT_VERSION:
        raise VcmError(f"vcm file format version {version} is not supported (this vcm reads version "
                       f"{FORMAT_VERSION})", path=path, fix="use the vcm version that wrote it, or re-encode it")
    if flags & 0x08:
        raise ValueError("reserved flag bit set")
    matrix, odd_w, odd_h = MATRICES[flags & 1], flags >> 1 & 1, flags >> 2 & 1
    entries: list[tuple[str, int, tuple[int, int, int, int] | None, int | None]] = []
    pos = 1
    while pos < len(body):
        b = body[pos]
        pos += 1
        role = _ROLE_NAMES.get(b >> 6)
        if role is None or (role == "background") != (not entries):
            raise ValueError(f"bad role code {b >> 6} for stream {len(entries)}")
        if role == "background":
            entries.append((role, b & 0x3F, None, None))
            continue
        vals = []
        for _ in range(5):
            v, pos = read_varint(body, pos)
            vals.append(v)
        entries.append((role, b & 0x3F, tuple(vals[:4]), vals[4]))
    if not entries:
        raise ValueError("no stream entries")
    sei_len = sei.end - sei.start
    bg_len = len(data) - sei_len - sum(e[3] for e in entries[1:])
    if bg_len <= sei.start:
        raise ValueError("the stream lengths exceed the file size")
    stream0 = data[:sei.start] + data[sei.end:bg_len + sei_len]
    streams: list[StreamEntry] = []
    cw, ch = picture_size(stream0)
    width, height = cw - odd_w, ch - odd_h
    streams.append(StreamEntry("background", (0, 0, width, height), entries[0][1], stream0))
    pos = bg_len + sei_len
    for i, (role, qp, rect, length) in enumerate(entries[1:], 1):
        chunk = data[pos:pos + length]
        pos += length
        x, y, w, h = rect
        if x + w > width or y + h > height or w < 1 or h < 1:
            raise ValueError(f"stream {i}: rect {rect} is outside the {width}x{height} picture")
        sw, sh = picture_size(chunk)
        if sw - w not in (0, 1) or sh - h not in (0, 1):
            raise ValueError(f"stream {i}: coded size {sw}x{sh} does not match its rect {w}x{h}")
        streams.append(StreamEntry(role, rect, qp, chunk))
    return VcmFile(width, height, matrix, streams)


def _read_plain(data: bytes, path: object) -> VcmFile:
    try:
        w, h = picture_size(data)
    except ValueError as e:
        raise VcmError(f"not a readable VVC stream ({e})", path=path,
                       fix="give a .266 file written by vcm encode or a VVC encoder") from None
    if not any(n.is_vcl for n in iter_nal_units(data)):
        raise VcmError("the VVC stream holds no coded picture (truncated?)", path=path, fix=FIX)
    disp = read_display_size(data)  # `vcm vvc encode` of an odd-sized picture: the true size
    if disp and 0 <= w - disp[0] <= 1 and 0 <= h - disp[1] <= 1:
        w, h = disp
    return VcmFile(w, h, "bt709", [StreamEntry("background", (0, 0, w, h), None, data)], plain=True)


# ------------------------------------------------------------------------------------- display size (plain)
# `vcm vvc encode` pads odd-sized pictures to even (libvvenc needs even sizes). The true size travels in its
# own user_data_unregistered SEI (any decoder ignores it): UUID, then width and height as 16-bit big-endian.
SIZE_UUID = bytes.fromhex("7e5a9cf1b4d84e6f9a17c6e2f08bd35b")  # no 0x00..0x03 byte; far from VCM_UUID


def add_display_size(stream: bytes, width: int, height: int) -> bytes:
    """`stream` with a display-size SEI before its first slice (or picture header); refuses a second one."""
    if read_display_size(stream) is not None:
        raise ValueError("the stream already carries a display-size SEI")
    return insert_user_data_sei(stream, SIZE_UUID + struct.pack(">HH", width, height))


def read_display_size(stream: bytes) -> tuple[int, int] | None:
    """The (width, height) of a display-size SEI before the first slice, or None."""
    found = find_user_data_sei(stream, SIZE_UUID, _SCAN_BYTES)
    if found is None or len(found.data) != 4:
        return None
    w, h = struct.unpack(">HH", found.data)
    return (w, h) if w >= 1 and h >= 1 else None


def read_vcm_file(path: str | Path) -> VcmFile:
    """Read and verify a vcm file; a plain VVC `.266` reads as one background stream (plain=True).

    Raises VcmError naming the file on any damage: checksum mismatch (flipped bytes, truncation), a damaged
    placement SEI, stream lengths beyond the file, streams whose size does not match their placement.
    """
    from vcm.media import check_input_file

    p = check_input_file(path)
    return unpack_vcm_file(p.read_bytes(), p)


def is_vcm_file(path: str | Path) -> bool:
    """True when the file starts with a VVC stream carrying the vcm placement SEI (checksum not verified)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SCAN_BYTES)
        return _find_sei(head) is not None
    except (OSError, ValueError):
        return False


def decode_vcm_file(path: str | Path, decoder: str = "pyav") -> list[tuple[StreamEntry, YuvFrame]]:
    """Decode every stream of the file on its own: [(StreamEntry, YuvFrame)], background first.

    Each stream's bytes go through `vcm.codec.decode` alone (one decoder thread), so every picture is exactly
    what that stream decodes to by itself. Each frame's `display` is set to its rect size (crop the even
    padding). A vcm file's stream must hold exactly one picture; a plain VVC file gives one pair per picture.
    """
    from vcm.codec import decode

    vf = read_vcm_file(path)
    out = []
    with tempfile.TemporaryDirectory(prefix="vcm-container-") as tmp:
        for i, s in enumerate(vf.streams):
            one = Path(tmp) / f"stream{i}.266"
            one.write_bytes(s.data)
            try:
                frames = decode(one, decoder)
            except VcmError as e:  # its path is this temp copy, gone with the folder: name the file read
                if vf.plain:
                    raise VcmError(f"the VVC stream does not decode: {e.message}", path=path,
                                   fix="the file is damaged, cut, or has bytes after the stream: re-encode it "
                                       "(vcm vvc encode)") from None
                raise VcmError(f"stream {i} ({s.role}) does not decode: {e.message}", path=path, fix=FIX) from None
            if not vf.plain and len(frames) != 1:
                raise _corrupt(path, f"stream {i} ({s.role}) holds {len(frames)} pictures, not 1")
            w, h = s.size
            for f in frames:
                fits = f.width - w in (0, 1) and f.height - h in (0, 1)
                if not fits and not vf.plain:
                    raise _corrupt(path, f"stream {i} decoded to {f.width}x{f.height}, its rect is {w}x{h}")
                f.display = (w, h) if fits else None  # (a plain file may change size between sequences)
                out.append((s, f))
    return out
