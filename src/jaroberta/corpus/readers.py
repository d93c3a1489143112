"""Readers: find the input files, stream them in bounded chunks, parse chunks into documents.

Formats, chosen by file name (or `--format`):

- `text`   CC-100 style: one sentence or paragraph per line, a blank line between documents.
- `cirrus` Wikipedia CirrusSearch dumps (`*-cirrussearch-content.json[.gz]`): JSON lines
           alternating an `{"index": ...}` action and a page; the page's `text` is kept.
- `jsonl`  JSON Lines (`.jsonl`, `.ndjson`, `.json`): one document per record, its text in
           a configurable field.
- `parquet`, `arrow`  Parquet files and Hugging Face `datasets` folders: read in `tables.py`.

Compression (gzip, xz, bzip2, zstd) is recognised by magic bytes, not by name.

Reading is split in two so that it parallelises and memory stays flat:
`read_chunks` (main process) cuts the decompressed byte stream into chunks of about
`chunk_bytes` that end on a record boundary, never holding more than one chunk plus one
line; `parse_chunk` (worker) decodes a chunk and returns raw documents. A line longer than
`max_line_bytes` is dropped while streaming, so a 10 GB line costs no more memory than a
short one. Problems are counted under `input:*` keys and reported per file.
"""

from __future__ import annotations

import io
import json
import lzma
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jaroberta.corpus.streams import Damage, DecodedStream, compression_of
from jaroberta.errors import JarobertaError

FORMATS = ("text", "cirrus", "jsonl", "parquet", "arrow")
INVALID_UTF8 = ("replace", "skip")
_BLOCK = 256 << 10
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_COMPRESSED_SUFFIXES = (".gz", ".xz", ".bz2", ".zst")
_TABLE_SUFFIXES = {".parquet": "parquet", ".arrow": "arrow"}


@dataclass(frozen=True)
class ReadConfig:
    """How input files are read."""

    format: str = "auto"
    """'auto' (by file name), 'text' (CC-100), 'cirrus' (Wikipedia CirrusSearch), 'jsonl', 'parquet' or 'arrow'."""
    text_field: str = "text"
    """JSON Lines: the field holding a record's text; Parquet and datasets: the column."""
    invalid_utf8: str = "replace"
    """Lines that are not valid UTF-8: 'replace' bad bytes with U+FFFD, or 'skip' the line."""
    max_line_bytes: int = 4 << 20
    """Longer lines are dropped (and counted) without being held in memory."""
    chunk_bytes: int = 1 << 20
    """Approximate size of the pieces of input handed to workers."""

    def __post_init__(self) -> None:
        if self.format not in ("auto", *FORMATS):
            raise JarobertaError(f"format must be auto or one of {FORMATS}, got {self.format!r}")
        if self.invalid_utf8 not in INVALID_UTF8:
            raise JarobertaError(f"invalid_utf8 must be one of {INVALID_UTF8}, got {self.invalid_utf8!r}")
        if self.max_line_bytes < 1024:
            raise JarobertaError(f"max_line_bytes must be at least 1024, got {self.max_line_bytes}")
        if not self.text_field:
            raise JarobertaError("text_field must not be empty")


@dataclass(frozen=True)
class InputFile:
    """One input file and how to read it."""

    path: Path
    """The file."""
    format: str
    """One of FORMATS."""
    size: int
    """Size on disk in bytes (compressed where the file is)."""


class SkipInput(Exception):
    """This file cannot be read as text: skip it, count it, name it in the report."""


# -- finding inputs -----------------------------------------------------------------------
def discover_inputs(paths: list[Path], config: ReadConfig) -> list[InputFile]:
    """Expand files and folders (recursively, hidden files left out) into a sorted, stable list."""
    if not paths:
        raise JarobertaError("no input given")
    found: dict[Path, InputFile] = {}
    for path in paths:
        if not path.exists():
            raise JarobertaError(f"input {path} does not exist: give text, .jsonl, .parquet or CirrusSearch dump files, or folders")
        if path.is_dir():
            # broken links are kept: reading them fails, and the report names them
            files = sorted(p for p in path.rglob("*") if (p.is_file() or (p.is_symlink() and not p.exists()))
                           and not _hidden(p.relative_to(path)))
            if not files:
                raise JarobertaError(f"input folder {path} has no files")
        else:
            files = [path]
        for file in files:
            resolved = file.resolve()
            if resolved not in found:
                found[resolved] = InputFile(path=file, format=detect_format(file, config.format), size=_size(file))
    return sorted(found.values(), key=lambda item: str(item.path))


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # a broken link found in a folder: skipped and reported when it is read
        return 0


def detect_format(path: Path, requested: str = "auto") -> str:
    """The format of `path`: `requested` unless 'auto', else guessed from the file name."""
    if requested != "auto":
        return requested
    name = path.name.lower()
    if path.suffix.lower() in _TABLE_SUFFIXES:
        return _TABLE_SUFFIXES[path.suffix.lower()]
    for suffix in _COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if "cirrussearch" in name and name.endswith(".json"):
        return "cirrus"
    if name.endswith(_JSON_SUFFIXES):
        return "jsonl"
    return "text"


# -- streaming (main process) ---------------------------------------------------------------
def open_binary(path: Path, damage: Damage | None = None) -> tuple[io.BufferedIOBase, io.BufferedReader]:
    """(decompressed stream, raw file): the raw file's position measures progress. With `damage`
    (a corrupt archive read before), the stream hands out only the verified text."""
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise SkipInput(f"cannot open: {exc.strerror or exc}") from exc
    magic = raw.read(6)
    raw.seek(0)
    if compression_of(magic):
        # keeps what decodes before a truncated or corrupt end; `broken` says where it broke
        return DecodedStream(raw, magic, damage), raw
    return raw, raw


def read_chunks(item: InputFile, config: ReadConfig, counts: Counter,
                problems: list[str] | None = None, damage: Damage | None = None) -> Iterator[tuple[bytes, int]]:
    """Yield (chunk, raw bytes consumed so far) for one file; chunks end on a record boundary.

    Raises SkipInput where the file is empty, binary or UTF-16, or cannot be decompressed
    from the start; a read error later ends the file early (what came before is kept).
    Raises Unverified, after the last chunk, where an archive turned out corrupt: what was
    yielded may hold scrambled text, and the file must be read again with that `damage`,
    which yields only the verified text and counts the rest (`input:corrupt_*`).
    """
    stream, raw = open_binary(item.path, damage)
    block_size = min(_BLOCK, config.chunk_bytes)
    boundary = b"\n\n" if item.format == "text" else b"\n"
    limit = config.max_line_bytes
    try:
        first = _read(stream, item, block_size)
        if not first:
            _unverified(stream, damage, counts)
            broken = getattr(stream, "broken", None)
            if damage is not None:
                raise ReadError(f"{item.path}: {broken}")
            raise SkipInput(f"{broken}; nothing decodes before the break" if broken else "empty file")
        try:
            _check_is_text(first)
        except SkipInput:
            if isinstance(stream, DecodedStream):  # scrambled by a corrupt block, or binary indeed
                while _read(stream, item, _BLOCK):
                    pass
                _unverified(stream, damage, counts)
            raise
        buf, skipping, block = b"", False, first
        try:
            while block:
                if skipping:  # inside a line over the limit: drop bytes up to its end
                    end = block.find(b"\n")
                    if end < 0:
                        block = _read(stream, item, block_size)
                        continue
                    block, skipping = block[end + 1 :], False
                buf += block
                last_newline = buf.rfind(b"\n")
                if len(buf) - last_newline - 1 > limit:  # the unfinished last line is too long
                    counts["input:long_lines"] += 1
                    head, buf, skipping = buf[: last_newline + 1], b"", True
                    if head:
                        yield head, raw.tell()
                elif len(buf) >= config.chunk_bytes:
                    cut = buf.rfind(boundary)
                    if cut < 0 and len(buf) >= 16 * config.chunk_bytes:
                        # one document longer than 16 chunks: cut it at a line end
                        counts["input:documents_cut"] += 1
                        cut, width = last_newline, 1
                    else:
                        width = len(boundary)
                    if cut >= 0:
                        yield buf[: cut + width], raw.tell()
                        buf = buf[cut + width :]
                block = _read(stream, item, block_size)
            _unverified(stream, damage, counts)
            broken = getattr(stream, "broken", None)
            if broken:  # the decoded text ends mid-way: keep it all, but not half a character
                buf = _without_partial_char(buf)
            if buf and not skipping:
                yield buf, raw.tell()
            buf = b""
            if broken:
                raise ReadError(f"{item.path}: {broken}")
        except ReadError:
            cut = buf.rfind(boundary)
            if cut >= 0 and not skipping:  # keep the complete records read before the error
                yield buf[: cut + len(boundary)], raw.tell()
            raise
    finally:
        stream.close()
        raw.close()


def _unverified(stream, damage: Damage | None, counts: Counter) -> None:
    """At the end of the decoded text: a corrupt archive read the first time raises Unverified;
    read the second time (with its `damage`), what was rejected is counted."""
    found = getattr(stream, "damage", None)
    if damage is None and found is not None:
        raise Unverified(found)
    if damage is not None:
        counts["input:corrupt_rejected_bytes"] += stream.rejected_bytes
        counts["input:corrupt_rejected_lines"] += stream.rejected_lines


class Unverified(Exception):
    """The archive is corrupt and what was read from it is not all verified: read it again with `damage`."""

    def __init__(self, damage: Damage):
        super().__init__(f"corrupt {damage.format} data at byte {damage.offset:,}")
        self.damage = damage


def _read(stream, item: InputFile, size: int) -> bytes:
    try:
        return stream.read(size)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise ReadError(f"{item.path}: read error ({exc.__class__.__name__}: {exc})") from exc


def _without_partial_char(data: bytes) -> bytes:
    """`data` less an unfinished UTF-8 sequence at its very end (a stream cut mid-character)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the lead byte
            continue
        length = 2 if byte >= 0xC0 and byte < 0xE0 else 3 if 0xE0 <= byte < 0xF0 else 4 if byte >= 0xF0 else 1
        return data[:-back] if length > back else data
    return data


class ReadError(Exception):
    """The file broke off mid-stream (a truncated or corrupt archive)."""


def _check_is_text(head: bytes) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SkipInput("UTF-16 text (byte order mark); convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8")
    sample = head[:8192]
    if sample.count(b"\x00") > max(8, len(sample) // 100):
        raise SkipInput("binary data or UTF-16 text (many NUL bytes); give UTF-8 text")
    # A few bad bytes are --invalid-utf8's business; a file that is mostly not UTF-8 is
    # another encoding (Shift_JIS, EUC-JP) or binary, and replacing would keep only noise.
    decoded = sample[:-4].decode("utf-8", "replace") if len(sample) > 4 else sample.decode("utf-8", "replace")
    if decoded.count("\ufffd") > len(decoded) * 0.3:
        raise SkipInput("not UTF-8 (binary, or another encoding such as Shift_JIS/EUC-JP: convert with iconv -t UTF-8)")


# -- parsing (worker) ------------------------------------------------------------------------
def utf8_lines(chunk: bytes, config: ReadConfig, counts: Counter) -> list[str]:
    """Lines of `chunk` as UTF-8 text; a line that is not valid UTF-8 is replaced or skipped
    (--invalid-utf8) and counted."""
    try:
        return chunk.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = []
        for raw in chunk.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                counts["input:invalid_utf8_lines"] += 1
                if config.invalid_utf8 == "replace":
                    lines.append(raw.decode("utf-8", "replace"))
        return lines


def decode_lines(chunk: bytes, config: ReadConfig, counts: Counter) -> list[str]:
    """Lines of a chunk as text; NUL bytes, invalid UTF-8 and long lines handled and counted."""
    if b"\x00" in chunk:
        counts["input:nul_bytes"] += chunk.count(b"\x00")
        chunk = chunk.replace(b"\x00", b"")
    lines = utf8_lines(chunk, config, counts)
    limit = config.max_line_bytes
    if any(len(line) > limit // 4 for line in lines):  # a char is at most 4 bytes
        kept = [line for line in lines if len(line.encode("utf-8")) <= limit]
        counts["input:long_lines"] += len(lines) - len(kept)
        lines = kept
    return lines


def parse_chunk(chunk: bytes, fmt: str, config: ReadConfig, counts: Counter) -> list[list[str]]:
    """Raw documents (lists of lines) of one chunk."""
    return PARSERS[fmt](decode_lines(chunk, config, counts), config, counts)


def _text_documents(lines: list[str], config: ReadConfig, counts: Counter) -> list[list[str]]:
    documents, current = [], []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            documents.append(current)
            current = []
    if current:
        documents.append(current)
    return documents


def _json_records(lines: list[str], counts: Counter) -> Iterator[dict]:
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            counts["input:bad_json_lines"] += 1
            continue
        if isinstance(record, dict):
            yield record
        else:
            counts["input:bad_json_lines"] += 1


def _cirrus_documents(lines: list[str], config: ReadConfig, counts: Counter) -> list[list[str]]:
    documents = []
    for record in _json_records(lines, counts):
        if "index" in record and len(record) == 1:  # the bulk-API action line before each page
            continue
        if record.get("namespace", 0) != 0:
            counts["input:non_content_pages"] += 1
            continue
        text = record.get("text")
        if not isinstance(text, str):
            counts["input:records_without_text"] += 1
            continue
        documents.append(text.split("\n"))
    return documents


def _jsonl_documents(lines: list[str], config: ReadConfig, counts: Counter) -> list[list[str]]:
    documents = []
    for record in _json_records(lines, counts):
        text = record.get(config.text_field)
        if not isinstance(text, str):
            counts["input:records_without_text"] += 1
            continue
        documents.append(text.split("\n"))
    return documents


PARSERS = {"text": _text_documents, "cirrus": _cirrus_documents, "jsonl": _jsonl_documents}
"""Format name -> parser of decoded lines into raw documents."""


def input_key(index: int, item: InputFile) -> str:
    """File-name-safe, order-preserving name for an input's parts and completion marker."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in item.path.name)[:60]
    return f"{index:05d}-{stem}"
