"""Files, safely: atomic replacement, fresh folders, content digests, and UTF-8 text files read
line by line with the byte where they stop being text. Every stage that reads or writes files uses it."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from jaroberta.errors import JarobertaError


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: a reader (or a run killed
    half-way) sees the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def fresh_dir(path: str | Path) -> Path:
    """`path` as an empty folder: removed first if it exists."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_file_lines(path: Path) -> Iterator[str]:
    """The non-empty lines of a UTF-8 text file; JarobertaError naming the file and the byte
    offset where it stops being text (binary data, another encoding)."""
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            if b"\x00" in raw:
                raise JarobertaError(f"training input {path} is not text: a NUL byte at byte {offset + raw.index(0):,} "
                                     f"(a binary file?); give UTF-8 text, one sentence per line")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise JarobertaError(f"training input {path} is not UTF-8 text: invalid byte at byte {offset + exc.start:,} "
                                     f"(binary, or another encoding: convert with iconv -t UTF-8)") from None
            offset += len(raw)
            line = line.rstrip("\n")
            if line.strip():
                yield line
