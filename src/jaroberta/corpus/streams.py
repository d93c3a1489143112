"""Decompressed input streams that keep everything decoded before a break.

The standard library's file objects (`gzip.GzipFile`, `lzma.LZMAFile`, `bz2.BZ2File`) and
zstandard's `stream_reader` raise at a truncated or corrupt archive and throw away what
the failing `read()` had already decoded: up to a whole block. A truncated download
then loses good text that `zcat` would print. Here the raw bytes are fed in small pieces
to the format's incremental decompressor, whose output is kept as it comes; where the
stream breaks off, `read()` returns the decoded bytes and then end-of-file, and `broken`
says where and why, for the report.

Concatenated streams (`cat a.gz b.gz`, pbzip2's multi-stream files) are read on, as the
command-line tools do.

Truncation and corruption differ. A truncated file keeps everything that decodes, as `zcat`
prints it. A corrupt one (a flipped byte) decodes into scrambled text before any check
notices, so only what a check verified is trusted: `Damage` records where decoding failed
and how many decoded bytes came from units that verified (whole bzip2 and xz blocks, which
carry their own checks; for gzip and zstd, whose check covers a whole member or frame, the
members and frames before the failing one). The reader then reads the file again with
`DecodedStream(..., damage=...)`, which hands out only those bytes and counts the rest.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jaroberta.deps import require

_FEED = 16 << 10
"""Raw bytes fed to the decompressor at a time."""

_TRAILER_SLACK = 1 << 18
"""Decoded bytes by which a damaged gzip member's size may differ from its trailer's."""

_ERRORS = (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError)


def _zstd_decompressor():
    zstandard = require("zstandard", "reading .zst input")
    return zstandard.ZstdDecompressor().decompressobj()


# magic bytes -> (format name, decompressor factory)
FORMATS: dict[bytes, tuple[str, Callable]] = {
    b"\x1f\x8b": ("gzip", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)),
    b"\xfd7zXZ\x00": ("xz", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ)),
    b"BZh": ("bzip2", bz2.BZ2Decompressor),
    b"\x28\xb5\x2f\xfd": ("zstd", _zstd_decompressor),
}


def compression_of(magic: bytes) -> str | None:
    """'gzip', 'xz', 'bzip2', 'zstd' or None, from a file's first bytes."""
    return next((name for prefix, (name, _) in FORMATS.items() if magic.startswith(prefix)), None)


@dataclass(frozen=True)
class Damage:
    """Where a corrupt archive failed, and how much of what it decoded is verified."""

    format: str
    """'gzip', 'xz', 'bzip2' or 'zstd'."""
    offset: int
    """Byte of the compressed file at which decoding failed."""
    trusted: int
    """Decoded bytes (from the start of the file) that came from units whose checks passed."""
    unit: str
    """What failed, in words: 'the bzip2 block at byte 1,234', 'the gzip member at byte 0'."""
    reason: str
    """The decompressor's error."""
    unread: int
    """Bytes of the compressed file after `offset`, not read."""

    def describe(self, rejected_bytes: int, rejected_lines: int) -> str:
        kept = f"the {self.trusted:,} decoded bytes before it were verified and kept" if self.trusted else "nothing before it was verified"
        return (f"the {self.format} data is corrupt: decoding failed at byte {self.offset:,} of the file ({self.reason}); "
                f"{self.unit} did not verify, so what it decoded was rejected ({rejected_bytes:,} bytes, "
                f"{rejected_lines:,} lines) and the file's last {self.unread:,} bytes were not read; {kept}")


class DecodedStream:
    """A readable decompressed view of a raw binary file that stops quietly at a break.

    `broken` is None while the stream is whole; after a truncated or corrupt archive it is
    a sentence saying where the break is, and `read()` has already returned every byte
    decoded before it. After a corrupt one `damage` says what was verified; a stream opened
    with that `damage` hands out only the verified bytes and counts the rest in
    `rejected_bytes` and `rejected_lines`.
    """

    def __init__(self, raw, magic: bytes, damage: Damage | None = None):
        name, factory = next((v for prefix, v in FORMATS.items() if magic.startswith(prefix)))
        self.format = name
        self.broken: str | None = None
        self.damage: Damage | None = None
        self._limit = damage
        self.rejected_bytes = self.rejected_lines = 0
        self._handed = 0  # decoded bytes handed out by read()
        self._decoded = 0  # decoded bytes produced so far
        self._unit_decoded = 0  # decoded bytes before the current stream (gzip member, zstd frame, ...)
        self._raw = raw
        self._factory = factory
        self._decompressor = factory()
        # zstandard's own error class (the package is optional, so looked up only here)
        self._errors = _ERRORS + ((require("zstandard").ZstdError,) if name == "zstd" else ())
        self._pieces: list[bytes] = []  # decoded by the last feed
        self._pending, self._position = b"", 0  # decoded, not yet read
        self._done = False
        self._fed = 0  # raw bytes handed to decompressors so far
        self._stream_start = 0  # where the current stream (of concatenated ones) starts

    def read(self, size: int = -1) -> bytes:
        """Up to `size` decoded bytes (fewer where a piece ends: b"" only at the end or the break)."""
        if size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while self._position >= len(self._pending) and not self._done:
            self._fill()
            self._pending, self._position = b"".join(self._pieces), 0
            self._pieces = []
        out = self._pending[self._position : self._position + size]
        if self._limit is not None and self._handed + len(out) >= self._limit.trusted:
            out = out[: self._limit.trusted - self._handed]
            self._reject_rest(len(out))
            self._handed += len(out)
            return out
        self._position += len(out)
        self._handed += len(out)
        return out

    def _reject_rest(self, handed_now: int) -> None:
        """Past the verified bytes: decode on to the failure only to count what is rejected."""
        rest = self._pending[self._position + handed_now :]
        rejected, lines = len(rest), rest.count(b"\n")
        self._pending, self._position, self._pieces = b"", 0, []
        while not self._done:
            self._fill()
            for piece in self._pieces:
                rejected, lines = rejected + len(piece), lines + piece.count(b"\n")
            self._pieces = []
        self.rejected_bytes, self.rejected_lines = rejected, lines
        self.broken = self._limit.describe(rejected, lines)
        self._done = True
        self._limit = None  # stop here: read() returns b"" from now on
        self.damage = None

    def _fill(self) -> None:
        piece = self._raw.read(_FEED)
        if not piece:
            self._done = True
            if not self._decompressor.eof:
                if self._ends_whole():
                    why = "its data runs on into the end the file does have, so a byte inside it is damaged"
                    self.broken = f"the {self.format} stream is corrupt before byte {self._fed:,} ({why})"
                    if self._limit is None:
                        unit = f"the {self.format} {'member' if self.format == 'gzip' else 'stream'} that starts at byte {self._stream_start:,}"
                        self.damage = Damage(self.format, self._fed, self._unit_decoded, unit, why, 0)
                    return
                self.broken = f"the {self.format} stream breaks off at byte {self._fed:,} before its end (a truncated file)"
            return
        self._feed(piece)

    def _ends_whole(self) -> bool:
        """The file ends mid-stream, yet with the stream's own end: damaged, not cut short (a flipped
        byte in the last block can make the decoder take the end for data, and wait for more).

        gzip: the last 4 bytes are the member's size (its trailer's ISIZE, modulo 2^32), give or
        take what the damage scrambled; a cut file's last bytes match by chance once in ~16,000.
        xz: the file ends with a stream footer whose CRC-32 holds. Nothing verified is lost: the
        whole member or stream is untrusted, as after any other failed check in it.
        """
        resume = self._raw.tell()
        try:
            if self.format == "gzip":
                self._raw.seek(-4, 2)
                isize = int.from_bytes(self._raw.read(4), "little")
                return abs(isize - (self._decoded - self._unit_decoded) % (1 << 32)) <= _TRAILER_SLACK
            if self.format == "xz" and self._fed - self._stream_start >= 24:
                self._raw.seek(-12, 2)
                footer = self._raw.read(12)
                return footer[-2:] == b"YZ" and zlib.crc32(footer[4:10]) == int.from_bytes(footer[:4], "little")
            return False
        finally:
            self._raw.seek(resume)

    def _feed(self, data: bytes) -> None:
        while data:
            if self._decompressor.eof:
                data = self._next_stream(data)
                if not data:
                    return
            backup = self._decompressor.copy() if hasattr(self._decompressor, "copy") else None
            try:
                self._append(self._decompressor.decompress(data))
            except self._errors as exc:
                self._corrupt(data, backup, exc)
                return
            self._fed += len(data) - len(self._decompressor.unused_data)
            data = self._decompressor.unused_data if self._decompressor.eof else b""

    def _next_stream(self, data: bytes) -> bytes:
        """After one complete stream: another one follows (concatenated files), or trailing bytes."""
        if len(data) < 6:  # the next stream's magic bytes may straddle two pieces
            data += self._raw.read(_FEED)
        if data.strip(b"\x00") == b"":  # zero padding (tape archives, some tools): ignored, as gzip -d does
            self._fed += len(data)
            return b""
        if compression_of(data) != self.format:
            self._stop(f"the {self.format} stream is followed by {len(data):,}+ bytes of other data at byte {self._fed:,}")
            return b""
        self._decompressor = self._factory()
        self._stream_start = self._fed
        self._unit_decoded = self._decoded
        return data

    def _append(self, piece: bytes) -> None:
        self._pieces.append(piece)
        self._decoded += len(piece)

    def _corrupt(self, data: bytes, backup, exc: Exception) -> None:
        """Keep what decodes before the bad byte: from a copy of the decoder's state (zlib) or
        a decoder that read this stream again up to the failing piece, then byte by byte."""
        decoder = backup if backup is not None else self._replayed()
        for i in range(len(data)):
            try:
                out = decoder.decompress(data[i : i + 1])
            except self._errors:
                self._fed += i
                break
            self._append(out)
            if decoder.eof:  # the stream ended exactly there: go on reading
                self._decompressor = decoder
                self._fed += i + 1
                self._feed(decoder.unused_data + data[i + 1 :])
                return
        self._stop(f"the {self.format} stream is corrupt at about byte {self._fed:,} ({exc.__class__.__name__}: {exc})")
        if self.damage is None and self._limit is None:
            self.damage = self._verified(f"{exc.__class__.__name__}: {exc}")

    def _verified(self, reason: str) -> Damage:
        """What of the decoded text a check verified, now that decoding failed at byte `self._fed`."""
        resume = self._raw.tell()
        size = self._raw.seek(0, 2)
        try:
            if self.format == "bzip2":
                good, unit = _bzip2_verified(self._raw, self._stream_start, self._fed)
            elif self.format == "xz":
                good, unit = _xz_verified(self._raw, self._stream_start, self._fed)
            else:  # gzip's CRC-32 and zstd's checksum cover a whole member or frame
                good, unit = 0, f"the {self.format} {'member' if self.format == 'gzip' else 'frame'} that starts at byte {self._stream_start:,}"
        finally:
            self._raw.seek(resume)
        return Damage(self.format, self._fed, self._unit_decoded + good, unit, reason, max(0, size - self._fed - 1))

    def _replayed(self):
        """A fresh decoder fed this stream's bytes before the failing piece (their text was handed out already)."""
        decoder = self._factory()
        resume = self._raw.tell()
        self._raw.seek(self._stream_start)
        remaining = self._fed - self._stream_start
        while remaining > 0:
            chunk = self._raw.read(min(_FEED, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            decoder.decompress(chunk)
        self._raw.seek(resume)
        return decoder

    def _stop(self, why: str) -> None:
        self.broken = why
        self._done = True

    def close(self) -> None:
        self._pending, self._pieces = b"", []


# -- what a check verified ---------------------------------------------------------------------
_BZ_BLOCK = 0x314159265359  # 48-bit magic of a bzip2 block (pi)
_BZ_END = 0x177245385090  # 48-bit magic of a bzip2 stream's end (sqrt pi)
_WINDOW = 1 << 20


def _bzip2_verified(raw, stream_start: int, failed_at: int) -> tuple[int, str]:
    """(decoded bytes of the whole blocks of the bzip2 stream at `stream_start` that verify,
    the first block that does not), as bzip2recover finds them: each block (bit-aligned,
    between two magics) is decoded on its own as a one-block stream, whose check is the
    block's own CRC."""
    raw.seek(stream_start)
    header = raw.read(4)  # b"BZh" + the block size digit
    marks = _bit_marks(raw, stream_start + 4, failed_at + 16)
    verified, after = 0, (stream_start + 4) * 8
    for (bit, magic), (end, _) in zip(marks, marks[1:]):
        if magic != _BZ_BLOCK:
            break
        block, bits = _read_bits(raw, bit, end)
        crc = (block >> (bits - 80)) & 0xFFFFFFFF  # the block's CRC follows its magic
        stream = header + _to_bytes((block << 80) | (_BZ_END << 32) | crc, bits + 80)
        try:
            verified += len(bz2.decompress(stream))
        except (OSError, ValueError, EOFError):
            return verified, f"the bzip2 block at byte {bit // 8:,} (bit {bit % 8})"
        after = end
    return verified, f"the bzip2 data after the last whole block (from byte {after // 8:,})"


def _bit_marks(raw, start: int, stop: int) -> list[tuple[int, int]]:
    """(absolute bit offset, magic) of every bzip2 block and end-of-stream magic in bytes [start, stop)."""
    patterns = {magic: magic.to_bytes(6, "big") for magic in (_BZ_BLOCK, _BZ_END)}
    marks = set()
    for position in range(start, stop, _WINDOW):
        raw.seek(position)
        window = raw.read(min(_WINDOW, stop - position) + 7)  # 7 more: a magic across the window's end
        if len(window) < 6:
            break
        array = np.frombuffer(window, dtype=np.uint8).astype(np.uint16)
        for shift in range(8):  # the magics are bit-aligned: look at the bytes shifted by 0..7 bits
            shifted = window if shift == 0 else ((array[:-1] << shift) | (array[1:] >> (8 - shift))).astype(np.uint8).tobytes()
            for magic, pattern in patterns.items():
                at = shifted.find(pattern)
                while at >= 0:
                    marks.add(((position + at) * 8 + shift, magic))
                    at = shifted.find(pattern, at + 1)
    return sorted(marks)


def _read_bits(raw, start: int, end: int) -> tuple[int, int]:
    """Bits [start, end) of the file as an integer, and their number."""
    raw.seek(start // 8)
    data = raw.read((end + 7) // 8 - start // 8)
    value = int.from_bytes(data, "big") >> (len(data) * 8 - (end - start // 8 * 8))
    return value & ((1 << (end - start)) - 1), end - start


def _to_bytes(value: int, bits: int) -> bytes:
    pad = -bits % 8
    return (value << pad).to_bytes((bits + pad) // 8, "big")


def _xz_verified(raw, stream_start: int, failed_at: int) -> tuple[int, str]:
    """(decoded bytes of the blocks before the one that failed, that block), from the xz
    stream's index; (0, the stream) where the index cannot be read. The decoder checks each
    block's CRC or SHA-256 before it reads the next, so the blocks before the failing one verified."""
    blocks = _xz_blocks(raw, stream_start)
    if blocks is None:
        return 0, f"the xz stream that starts at byte {stream_start:,} (its index is unreadable, so its blocks are unknown)"
    for number, (start, end, decoded) in enumerate(blocks):
        if failed_at < end:
            what = f"the xz block at byte {start:,}" if number < len(blocks) - 1 else "the xz index after the blocks"
            return decoded, what
    return blocks[-1][2], "the xz stream's end"


def _xz_blocks(raw, stream_start: int) -> list[tuple[int, int, int]] | None:
    """(compressed start, compressed end, decoded bytes before it in the stream) of each block of the
    xz stream at `stream_start`, from the stream indexes read backwards from the file's end."""
    raw.seek(0, 2)
    end = raw.tell()
    while end - 12 > stream_start:
        raw.seek(end - 4)
        if raw.read(4) == b"\0\0\0\0":  # stream padding
            end -= 4
            continue
        raw.seek(end - 12)
        footer = raw.read(12)
        if footer[-2:] != b"YZ":
            return None
        size = (int.from_bytes(footer[4:8], "little") + 1) * 4
        index_start = end - 12 - size
        raw.seek(index_start)
        index = raw.read(size)
        if len(index) != size or index[:1] != b"\0" or zlib.crc32(index[:-4]) != int.from_bytes(index[-4:], "little"):
            return None
        try:
            count, at = _vli(index, 1)
            records = []
            for _ in range(count):
                unpadded, at = _vli(index, at)
                decoded, at = _vli(index, at)
                records.append((unpadded, decoded))
        except ValueError:
            return None
        start = index_start - sum(-(-unpadded // 4) * 4 for unpadded, _ in records) - 12
        if start == stream_start:
            blocks, position, before = [], start + 12, 0
            for unpadded, decoded in records:
                blocks.append((position, position + -(-unpadded // 4) * 4, before))
                position, before = position + -(-unpadded // 4) * 4, before + decoded
            blocks.append((position, end, before))  # the index itself: after every block verified
            return blocks
        if start < stream_start:
            return None
        end = start
    return None


def _vli(data: bytes, at: int) -> tuple[int, int]:
    """An xz variable-length integer at `at`: (value, position after it)."""
    value = shift = 0
    while at < len(data):
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated xz index")
