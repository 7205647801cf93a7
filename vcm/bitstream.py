"""VVC bitstream parsing shared by both vcm file formats (vcm.container, vcm.video_container) and the size SEI:
Annex-B NAL units, emulation prevention, the SPS/PPS fields that give the picture size, and the one way to put
a user_data_unregistered SEI (a UUID and a payload) before the first slice of a stream and to find it again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

# VVC NAL unit types (H.266 Table 5)
NUT_IDR_W_RADL, NUT_IDR_N_LP, NUT_CRA = 7, 8, 9
NUT_VPS, NUT_SPS, NUT_PPS, NUT_PH = 14, 15, 16, 19
NUT_PREFIX_SEI, NUT_SUFFIX_SEI = 23, 24
SEI_USER_DATA_UNREGISTERED = 5

@dataclass(frozen=True)
class NalUnit:
    """A NAL unit inside an Annex-B byte string: data[start:end] is header + escaped payload."""

    start: int  # first byte of the 2-byte NAL header
    end: int  # one past the last byte (trailing zero bytes belong to the next start code)
    type: int
    layer_id: int
    temporal_id_plus1: int

    @property
    def is_vcl(self) -> bool:
        return self.type <= 11


def iter_nal_units(data: bytes, limit: int | None = None) -> Iterator[NalUnit]:
    """NAL units of an Annex-B stream in order (start codes 00 00 01 and 00 00 00 01)."""
    n = len(data) if limit is None else min(len(data), limit)
    pos = data.find(b"\x00\x00\x01", 0, n)
    while 0 <= pos:
        start = pos + 3
        nxt = data.find(b"\x00\x00\x01", start, n)
        end = n if nxt < 0 else nxt
        while end > start and data[end - 1] == 0:
            end -= 1
        if end - start >= 2:
            b0, b1 = data[start], data[start + 1]
            yield NalUnit(start, end, b1 >> 3, b0 & 0x3F, b1 & 7)
        pos = nxt


def split_nal_units(data: bytes) -> list[NalUnit]:
    return list(iter_nal_units(data))


def escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes: 0x03 after 00 00 when the next byte is <= 0x03."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def unescape(payload: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    """MSB-first bit reader over an RBSP (u(n), ue(v))."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            i = self.pos >> 3
            if i >= len(self.data):
                raise ValueError("read past the end of a parameter set")
            v = (v << 1) | ((self.data[i] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def align(self) -> None:
        self.pos = (self.pos + 7) & ~7


_SUB_WC, _SUB_HC = (1, 2, 2, 1), (1, 2, 1, 1)  # by chroma_format_idc


def _parse_sps(rbsp: bytes) -> dict:
    """The SPS fields up to the conformance window (H.266 7.3.2.4)."""
    r = _Bits(rbsp)
    sps_id = r.u(4)
    r.u(4)  # vps id
    max_sublayers_minus1 = r.u(3)
    chroma = r.u(2)
    r.u(2)  # log2 ctu size - 5
    if r.u(1):  # sps_ptl_dpb_hrd_params_present_flag -> profile_tier_level(1, max_sublayers_minus1)
        r.u(7 + 1 + 8 + 1 + 1)  # profile, tier, level, frame_only, multilayer
        if r.u(1):  # gci_present_flag: 71 fixed constraint bits, then gci_num_additional_bits and those bits
            r.u(71)
            r.u(r.u(8))
        r.align()
        present = [r.u(1) for _ in range(max_sublayers_minus1)]
        r.align()
        for p in present:
            if p:
                r.u(8)
        for _ in range(r.u(8)):  # ptl_num_sub_profiles
            r.u(32)
    r.u(1)  # gdr
    if r.u(1):  # ref pic resampling
        r.u(1)
    w, h = r.ue(), r.ue()
    win = (r.ue(), r.ue(), r.ue(), r.ue()) if r.u(1) else (0, 0, 0, 0)
    return {"id": sps_id, "chroma": chroma, "width": w, "height": h, "window": win}


def _parse_pps(rbsp: bytes) -> dict:
    r = _Bits(rbsp)
    pps_id, sps_id = r.u(6), r.u(4)
    r.u(1)  # mixed nalu types
    w, h = r.ue(), r.ue()
    win = (r.ue(), r.ue(), r.ue(), r.ue()) if r.u(1) else None
    return {"id": pps_id, "sps": sps_id, "width": w, "height": h, "window": win}


def picture_size(stream: bytes) -> tuple[int, int]:
    """The output (conformance-cropped) size of the first picture of a VVC stream, from its SPS and PPS.

    This is the size a decoder returns; raises ValueError when the stream has no readable SPS/PPS before its
    first coded slice.
    """
    sps: dict[int, dict] = {}
    for nal in iter_nal_units(stream):
        if nal.is_vcl:
            break
        if nal.type not in (NUT_SPS, NUT_PPS):
            continue
        rbsp = unescape(stream[nal.start + 2:nal.end])
        if nal.type == NUT_SPS:
            s = _parse_sps(rbsp)
            sps[s["id"]] = s
            continue
        p = _parse_pps(rbsp)
        s = sps.get(p["sps"])
        if s is None:
            raise ValueError(f"PPS refers to missing SPS {p['sps']}")
        win = p["window"]
        if win is None:
            win = s["window"] if (p["width"], p["height"]) == (s["width"], s["height"]) else (0, 0, 0, 0)
        sw, sh = _SUB_WC[s["chroma"]], _SUB_HC[s["chroma"]]
        w, h = p["width"] - sw * (win[0] + win[1]), p["height"] - sh * (win[2] + win[3])
        if w <= 0 or h <= 0:
            raise ValueError(f"bad picture size {w}x{h}")
        return w, h
    raise ValueError("no SPS and PPS before the first coded slice")


def ff_coded(v: int) -> bytes:
    """SEI payloadType / payloadSize coding: 0xFF per 255, then the rest."""
    return b"\xff" * (v // 255) + bytes([v % 255])


def insert_user_data_sei(stream: bytes, payload: bytes, *, limit: int | None = None, what: str = "stream") -> bytes:
    """`stream` with one prefix SEI NAL (user_data_unregistered, `payload` = UUID + data) right before its
    first slice or picture header, with the first slice's layer and temporal id (any decoder skips it).
    `limit`: the SEI must end within this many bytes of the start (where readers look for it)."""
    anchor = next((n for n in iter_nal_units(stream) if n.is_vcl or n.type == NUT_PH), None)
    vcl = next((n for n in iter_nal_units(stream) if n.is_vcl), None)
    if anchor is None or vcl is None:
        raise ValueError(f"the {what} holds no coded slice")
    cut = anchor.start - 3  # the anchor's start code is 3 or 4 bytes; our NAL goes right before it
    if cut > 0 and stream[cut - 1] == 0:
        cut -= 1
    rbsp = bytes([SEI_USER_DATA_UNREGISTERED]) + ff_coded(len(payload)) + payload + b"\x80"
    sei = b"\x00\x00\x01" + bytes([vcl.layer_id, NUT_PREFIX_SEI << 3 | vcl.temporal_id_plus1]) + escape(rbsp)
    if limit is not None and cut + len(sei) >= limit:
        raise ValueError(f"the {what}'s first slice starts after {cut} bytes: too late for the SEI")
    return stream[:cut] + sei + stream[cut:]


@dataclass(frozen=True)
class UserDataSei:
    """A user_data_unregistered SEI message with a given UUID, found before the first slice of a stream."""

    start: int  # first byte of its NAL's start code (insert_user_data_sei always writes a 3-byte one)
    end: int  # one past the NAL's last byte
    header: bytes  # the NAL's two header bytes
    data: bytes  # the message's payload after the UUID
    last: bool  # only the RBSP trailing bits follow the message in its NAL (as insert_user_data_sei writes it)
    slice_header: bytes | None  # the two header bytes an SEI before the first slice carries (that slice's layer
    # and temporal id); None when no slice follows within the scanned bytes


def _sei_messages(rbsp: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(payloadType, payload, position after it) of each whole SEI message of an SEI RBSP; stops at the
    trailing bits or at a message cut short."""
    pos = 0
    while pos < len(rbsp) and rbsp[pos:] != b"\x80":
        ptype = psize = 0
        while pos < len(rbsp) and rbsp[pos] == 0xFF:
            ptype, pos = ptype + 255, pos + 1
        if pos >= len(rbsp):
            return
        ptype, pos = ptype + rbsp[pos], pos + 1
        while pos < len(rbsp) and rbsp[pos] == 0xFF:
            psize, pos = psize + 255, pos + 1
        if pos >= len(rbsp):
            return
        psize, pos = psize + rbsp[pos], pos + 1
        payload = rbsp[pos:pos + psize]
        pos += psize
        if len(payload) != psize:
            return
        yield ptype, payload, pos


def find_user_data_sei(stream: bytes, uuid: bytes, limit: int | None = None) -> UserDataSei | None:
    """The first user_data_unregistered message starting with `uuid` in the prefix SEI NAL units before the
    first coded slice (within `limit` bytes), or None. What a reader requires of it is the reader's call."""
    found: UserDataSei | None = None
    for nal in iter_nal_units(stream, limit):
        if nal.is_vcl:
            if found is None:
                return None
            head = bytes([stream[nal.start], NUT_PREFIX_SEI << 3 | nal.temporal_id_plus1])
            return UserDataSei(found.start, found.end, found.header, found.data, found.last, head)
        if nal.type != NUT_PREFIX_SEI or found is not None:
            continue
        rbsp = unescape(stream[nal.start + 2:nal.end])
        for ptype, payload, pos in _sei_messages(rbsp):
            if ptype == SEI_USER_DATA_UNREGISTERED and payload[:16] == uuid:
                found = UserDataSei(nal.start - 3, nal.end, stream[nal.start:nal.start + 2], payload[16:],
                                    rbsp[pos:] == b"\x80", None)
                break
    return found
