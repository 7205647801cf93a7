"""Read Qt resource bundles (.rcc, as `rcc -binary` writes them): list the files and read their bytes.

GCompris ships its pictures inside such bundles. Format (Qt's rcc): "qres" magic, then big-endian u32 version,
tree offset, data offset, names offset (and u32 flags from version 3). The tree is an array of nodes of 14 bytes
(22 from version 2, which adds a u64 modification time): u32 name offset, u16 flags (1 zlib, 2 directory,
4 zstd), then a directory's u32 child count and u32 first child index, or a file's u16 country, u16 language and
u32 data offset. A name is u16 length, u32 hash and UTF-16BE characters; a file's data is a u32 size and the
bytes, zlib entries starting with the u32 uncompressed length. Paths are checked: no '..', no empty parts.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

from vcm.errors import VcmError

_COMPRESSED, _DIRECTORY, _ZSTD = 1, 2, 4


class RccBundle:
    """A .rcc file's entries by path ("activities/erase/resource/x.webp"); `read(path)` gives the bytes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._buf = self.path.read_bytes()
            magic, version, self._tree, self._data, self._names = struct.unpack_from(">4s4I", self._buf, 0)
        except (OSError, struct.error) as e:
            raise VcmError(f"cannot read Qt resource bundle ({e})", path=self.path, fix="give an .rcc file") from e
        if magic != b"qres" or not 1 <= version <= 3:
            raise VcmError(f"not a Qt resource bundle (magic {magic!r}, version {version})", path=self.path,
                           fix="give an .rcc file written by Qt's rcc")
        self._node = 22 if version >= 2 else 14
        self.entries: dict[str, tuple[int, int]] = {}  # path -> (flags, data offset)
        try:
            self._walk(0, "", 0)
        except (struct.error, UnicodeDecodeError, IndexError) as e:
            raise VcmError(f"corrupt Qt resource bundle ({e})", path=self.path, fix="use the package's file") from e

    def _name(self, off: int) -> str:
        n = struct.unpack_from(">H", self._buf, self._names + off)[0]
        start = self._names + off + 6
        if start + 2 * n > len(self._buf):
            raise IndexError("name past the end")
        return self._buf[start:start + 2 * n].decode("utf-16-be")

    def _walk(self, index: int, prefix: str, depth: int) -> None:
        if depth > 64:
            raise IndexError("tree too deep")
        at = self._tree + index * self._node
        name_off, flags = struct.unpack_from(">IH", self._buf, at)
        name = "" if index == 0 else self._name(name_off)
        if name in (".", "..") or "/" in name or (index and not name):
            raise IndexError(f"bad entry name {name!r}")
        path = f"{prefix}/{name}" if prefix else name
        if flags & _DIRECTORY:
            count, first = struct.unpack_from(">II", self._buf, at + 6)
            if first <= index and count:
                raise IndexError("directory points backwards")
            for child in range(first, first + count):
                self._walk(child, path, depth + 1)
        else:
            self.entries[path] = (flags, struct.unpack_from(">I", self._buf, at + 10)[0])

    def read(self, path: str) -> bytes:
        """The uncompressed bytes of the file at `path`."""
        if path not in self.entries:
            raise VcmError(f"the bundle has no {path!r}", path=self.path, fix="list the entries (RccBundle.entries)")
        flags, off = self.entries[path]
        at = self._data + off
        size = struct.unpack_from(">I", self._buf, at)[0]
        raw = self._buf[at + 4:at + 4 + size]
        if len(raw) != size:
            raise VcmError(f"entry {path!r} runs past the end of the bundle", path=self.path, fix="use the package's file")
        if flags & _ZSTD:
            raise VcmError(f"entry {path!r} is zstd-compressed, which this reader does not handle", path=self.path,
                           fix="rebuild the bundle with zlib (rcc --compress-algo zlib)")
        if flags & _COMPRESSED:
            try:
                return zlib.decompress(raw[4:])
            except zlib.error as e:
                raise VcmError(f"entry {path!r} does not decompress ({e})", path=self.path,
                               fix="use the package's file") from e
        return raw
