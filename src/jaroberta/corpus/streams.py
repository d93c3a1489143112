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
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable

from jaroberta.deps import require

_FEED = 16 << 10
"""Raw bytes fed to the decompressor at a time."""

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


class DecodedStream:
    """A readable decompressed view of a raw binary file that stops quietly at a break.

    `broken` is None while the stream is whole; after a truncated or corrupt archive it is
    a sentence saying where the break is, and `read()` has already returned every byte
    decoded before it.
    """

    def __init__(self, raw, magic: bytes):
        name, factory = next((v for prefix, v in FORMATS.items() if magic.startswith(prefix)))
        self.format = name
        self.broken: str | None = None
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
        self._position += len(out)
        return out

    def _fill(self) -> None:
        piece = self._raw.read(_FEED)
        if not piece:
            self._done = True
            if not self._decompressor.eof:
                self.broken = f"the {self.format} stream breaks off at byte {self._fed:,} before its end (a truncated file)"
            return
        self._feed(piece)

    def _feed(self, data: bytes) -> None:
        while data:
            if self._decompressor.eof:
                data = self._next_stream(data)
                if not data:
                    return
            backup = self._decompressor.copy() if hasattr(self._decompressor, "copy") else None
            try:
                self._pieces.append(self._decompressor.decompress(data))
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
        return data

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
            self._pieces.append(out)
            if decoder.eof:  # the stream ended exactly there: go on reading
                self._decompressor = decoder
                self._fed += i + 1
                self._feed(decoder.unused_data + data[i + 1 :])
                return
        self._stop(f"the {self.format} stream is corrupt at about byte {self._fed:,} ({exc.__class__.__name__}: {exc})")

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
