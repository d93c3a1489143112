"""The on-disk layout of a corpus directory, and reading it back.

A corpus directory (written by `jaroberta corpus build`) holds:

    train/*.txt      the train split
    dev/*.txt        the dev split
    corpus.json      manifest: format version, counts, sources (package, version, license)
    report.json      what each cleaning rule did (report.txt: the same, as a table)
    rejected/*.jsonl with --keep-rejected: {"rule", "text"} for everything dropped
    .state/          build options, per-input completion markers and dedup digests (resume)

Each split is the concatenation of its `*.txt` files in sorted name order. A file is
UTF-8 text in the CC-100 format: one sentence per line, one blank line between
documents. Several files per split let workers, shards (`--shard i/N`) and resumed runs
each write their own part without coordination.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.core.files import text_file_lines

SPLITS = ("train", "dev")
MANIFEST = "corpus.json"
PART_SUFFIX = ".txt"
FORMAT_VERSION = 1
REPORT_JSON = "report.json"
REPORT_TXT = "report.txt"
REJECTED_DIR = "rejected"
STATE_DIR = ".state"


def split_files(corpus_dir: str | Path, split: str = "train") -> list[Path]:
    """The part files of one split, in reading order; a clear error where there are none."""
    corpus_dir = Path(corpus_dir)
    if split not in SPLITS:
        raise JarobertaError(f"unknown split {split!r}; a corpus has {SPLITS}")
    if not corpus_dir.is_dir():
        raise JarobertaError(f"corpus folder {corpus_dir} does not exist: build one with `jaroberta corpus build`")
    folder = corpus_dir / split
    files = sorted(folder.glob(f"*{PART_SUFFIX}")) if folder.is_dir() else []
    if not files:
        raise JarobertaError(
            f"{corpus_dir} has no {split} split ({folder}/*{PART_SUFFIX}): is it a folder made by `jaroberta corpus build`?"
        )
    return files


def iter_documents(corpus_dir: str | Path, split: str = "train") -> Iterator[list[str]]:
    """Documents of a split, each a list of sentences, streamed (memory stays flat)."""
    for path in split_files(corpus_dir, split):
        yield from read_documents(path)


def iter_sentences(corpus_dir: str | Path, split: str = "train") -> Iterator[str]:
    """Sentences of a split, in order, streamed."""
    for document in iter_documents(corpus_dir, split):
        yield from document


def training_sentences(inputs) -> Iterator[str]:
    """Sentences of every input: a corpus folder's train split, or a text file's non-empty lines."""
    for path in map(Path, inputs):
        if path.is_dir():
            yield from iter_sentences(path, "train")
        elif path.is_file():
            yield from text_file_lines(path)
        else:
            raise JarobertaError(f"training input {path} does not exist: give a corpus folder or a text file")


def read_documents(path: Path) -> Iterator[list[str]]:
    """Documents of one CC-100-format file: blank lines separate documents."""
    document: list[str] = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.rstrip("\n")
                if line.strip():
                    document.append(line)
                elif document:
                    yield document
                    document = []
    except UnicodeDecodeError as exc:  # written as UTF-8 by corpus build: the file was damaged since
        raise JarobertaError(f"{path} is damaged (not UTF-8 at byte {exc.start:,}); rebuild the corpus "
                             f"with `jaroberta corpus build`") from exc
    except OSError as exc:
        raise JarobertaError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if document:
        yield document


def read_manifest(corpus_dir: str | Path) -> dict:
    """The corpus.json of a corpus folder (counts, sources with licenses, options)."""
    path = Path(corpus_dir) / MANIFEST
    if not path.is_file():
        raise JarobertaError(f"{path} not found: is {corpus_dir} a folder made by `jaroberta corpus build`?")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JarobertaError(f"{path} is damaged ({exc}); rebuild the corpus with `jaroberta corpus build`") from exc
    if not isinstance(manifest, dict):
        raise JarobertaError(f"{path} is damaged (not a JSON object); rebuild the corpus with `jaroberta corpus build`")
    return manifest


def write_documents(handle, documents) -> int:
    """Write documents (lists of sentences) to an open text file; returns how many were written."""
    written = 0
    for document in documents:
        if document:
            handle.write("\n".join(document))
            handle.write("\n\n")
            written += 1
    return written
