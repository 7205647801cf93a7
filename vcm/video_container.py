"""The vcm VIDEO file: one standard Annex-B `.266`, its units concatenated, video metadata in one SEI.

A unit is either a coded video sequence (modes plain, frame, objects: each segment is a closed-GOP random-access
sequence at its own QP, starting with an IDR picture) or one vcm picture file (`--intra`: vcm.container's format,
each frame with its own object streams). A user_data_unregistered SEI with its own UUID (not the picture
format's) is inserted before the first picture header / slice of the first unit and carries what a raw VVC
stream cannot: frame rate, frame count, display size, colour matrix, mode and each unit's frames, QP and byte
length, plus a CRC-32 of everything else. Removing the SEI gives back the units byte for byte, so picture units
verify with their own CRC. Layout and reasons: docs/FORMAT.md, section "Video files".
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from vcm.bitstream import find_user_data_sei, insert_user_data_sei
from vcm.container import MATRICES, read_varint, write_varint
from vcm.errors import VcmError

VIDEO_UUID = bytes.fromhex("7e9a4cb16f5d48e8a2b9e4f05c7d8a36")  # no byte <= 0x03; far from the picture UUID
VIDEO_FORMAT_VERSION = 1
VIDEO_MODES = ("plain", "frame", "objects", "intra", "ctu", "auto")  # mode code = index; "intra": units are vcm picture files; "auto": each unit a sequence in its own mode
_SCAN = 1 << 16
FIX = "re-encode it (vcm encode VIDEO)"


@dataclass(frozen=True)
class VideoUnit:
    """One unit of the file: `frames` pictures coded at `qp` (intra mode: the picture's background QP)."""

    frames: int
    qp: int
    data: bytes = field(repr=False)


@dataclass
class VideoFile:
    width: int  # display size
    height: int
    fps: Fraction
    matrix: str
    mode: str
    units: list[VideoUnit]

    @property
    def frames(self) -> int:
        return sum(u.frames for u in self.units)

    @property
    def stream_bytes(self) -> int:
        return sum(len(u.data) for u in self.units)


def _body(vf: VideoFile) -> bytes:
    odd_w, odd_h = vf.width & 1, vf.height & 1
    out = bytearray([VIDEO_FORMAT_VERSION << 4 | MATRICES.index(vf.matrix) | odd_w << 1 | odd_h << 2,
                     VIDEO_MODES.index(vf.mode)])
    fps = Fraction(vf.fps).limit_denominator(1 << 20)
    out += write_varint(fps.numerator) + write_varint(fps.denominator) + write_varint(vf.width) + write_varint(vf.height)
    for u in vf.units:
        out += write_varint(u.frames) + bytes([int(u.qp)]) + write_varint(len(u.data))
    return bytes(out)


def pack_video_file(vf: VideoFile) -> bytes:
    """The file's bytes: units concatenated, our SEI before the first picture header or slice of unit 0."""
    if vf.matrix not in MATRICES or vf.mode not in VIDEO_MODES or not vf.units:
        raise ValueError(f"bad video file record (matrix {vf.matrix!r}, mode {vf.mode!r}, {len(vf.units)} units)")
    for i, u in enumerate(vf.units):
        if u.frames < 1 or not 0 <= int(u.qp) <= 63 or not u.data:
            raise ValueError(f"unit {i}: {u.frames} frames at QP {u.qp}, {len(u.data)} bytes")
        if VIDEO_UUID in u.data[:_SCAN]:
            raise ValueError(f"unit {i} already carries a vcm video SEI")
    body = _body(vf)
    crc = zlib.crc32(body)
    for u in vf.units:
        crc = zlib.crc32(u.data, crc)
    payload = VIDEO_UUID + body + struct.pack(">I", crc)
    head = insert_user_data_sei(vf.units[0].data, payload, what="first unit")
    return head + b"".join(u.data for u in vf.units[1:])


def write_video_file(path: str | Path, vf: VideoFile) -> int:
    """Write atomically; returns the size in bytes."""
    from vcm.fsutil import write_bytes_atomic

    data = pack_video_file(vf)
    write_bytes_atomic(path, data)
    return len(data)


def _find(data: bytes) -> tuple[int, int, bytes] | None:
    """(start, end, payload after the UUID) of our SEI NAL before the first slice (vcm.bitstream)."""
    found = find_user_data_sei(data, VIDEO_UUID, _SCAN)
    if found is None:
        return None
    if not found.last:
        raise ValueError("the video SEI is malformed")
    return found.start, found.end, found.data


def is_video_file(path: str | Path) -> bool:
    """True when the file starts with a VVC stream carrying the vcm video SEI (checksum not verified)."""
    try:
        with open(path, "rb") as f:
            return VIDEO_UUID in f.read(_SCAN)
    except OSError:
        return False


def unpack_video_file(data: bytes, path: object = "<bytes>") -> VideoFile:
    """Parse and verify (CRC first); VcmError naming the file on any damage."""
    def corrupt(why: str) -> VcmError:
        return VcmError(f"corrupt vcm video file: {why}", path=path, fix=FIX)

    try:
        found = _find(data)
    except (ValueError, IndexError) as e:
        raise corrupt(str(e)) from None
    if found is None:
        raise corrupt("no video SEI before the first slice")
    start, end, rec = found
    if len(rec) < 4 + 7:
        raise corrupt("video record too short")
    body, crc = rec[:-4], struct.unpack(">I", rec[-4:])[0]
    rest = data[:start] + data[end:]
    if zlib.crc32(rest, zlib.crc32(body)) != crc:
        raise corrupt("checksum mismatch: the file is truncated or has changed bytes")
    version, flags = body[0] >> 4, body[0] & 0x0F
    if version != VIDEO_FORMAT_VERSION:
        raise VcmError(f"vcm video format version {version} is not supported", path=path,
                       fix="use the vcm version that wrote it, or re-encode it")
    try:
        mode = VIDEO_MODES[body[1]]
        pos = 2
        num, pos = read_varint(body, pos)
        den, pos = read_varint(body, pos)
        w, pos = read_varint(body, pos)
        h, pos = read_varint(body, pos)
        units, off = [], 0
        while pos < len(body):
            n, pos = read_varint(body, pos)
            qp = body[pos]
            length, pos = read_varint(body, pos + 1)
            units.append(VideoUnit(n, qp, rest[off:off + length]))
            off += length
    except (IndexError, ValueError) as e:
        raise corrupt(f"bad record ({e})") from None
    if off != len(rest) or not units or den == 0 or (w & 1, h & 1) != (flags >> 1 & 1, flags >> 2 & 1):
        raise corrupt("unit lengths or sizes do not match the file")
    return VideoFile(w, h, Fraction(num, den), MATRICES[flags & 1], mode, units)


def read_video_file(path: str | Path) -> VideoFile:
    from vcm.media import check_input_file

    p = check_input_file(path)
    return unpack_video_file(p.read_bytes(), p)
