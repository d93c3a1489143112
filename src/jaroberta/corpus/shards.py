"""Packed token shards: fixed-length rows in memory-mapped files, described by a JSON header.

A shard directory holds, per split (`train`, `dev`):
- `{split}.ids.bin`    (rows, seq_len) token ids, uint16 when the vocabulary fits, else int32;
- `{split}.words.bin`  (rows, seq_len) uint16 word index of each piece *within its row*
  (`NO_WORD_STORED` at special tokens and padding), for whole-word masking;
- `{split}.lengths.bin` (rows,) int32 number of real (non-padding) tokens in each row;
and `shards.json` (layout, seq_len, dtype, the tokenizer's fingerprint, the input
conventions used to frame rows, counts) plus `tokenizer/`, a copy of the tokenizer.

Raw `.bin` files rather than `.npy` so rows can be appended while packing streams through
a corpus of unknown size; the header gives the shape back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from jaroberta.errors import JarobertaError
from jaroberta.text.base import MAX_VOCAB_SIZE

HEADER_FILE = "shards.json"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1
NO_WORD_STORED = np.iinfo(np.uint16).max
"""Stored word index of special tokens and padding."""
LAYOUTS = ("document", "full")


@dataclass
class SplitStats:
    """What packing one split produced, and what it left out (counted, never silent)."""

    rows: int = 0
    """Rows written."""
    tokens: int = 0
    """Real tokens in those rows (special tokens included, padding excluded)."""
    documents: int = 0
    """Documents packed."""
    empty_documents: int = 0
    """Documents skipped because they tokenized to nothing."""
    truncated_documents: int = 0
    """Documents cut at seq_len (document layout)."""
    truncated_tokens: int = 0
    """Pieces dropped by that truncation."""
    padded_tokens: int = 0
    """Padding in the written rows."""
    padding_share: float = 0.0
    """padded_tokens / (rows x seq_len): the share of the shards' slots that is padding."""
    literal_masks: int = 0
    """Literal mask-token strings ("[MASK]") in the text, packed as the ordinary text they are,
    never as the mask id (which would teach the model that the mask is a word of the corpus)."""


@dataclass
class ShardHeader:
    """The `shards.json` of a shard directory."""

    layout: str
    """'document' (one document per row, truncated) or 'full' (documents packed back to back)."""
    seq_len: int
    """Length of every row, special tokens included."""
    id_dtype: str
    """numpy dtype of the ids: 'uint16' or 'int32'."""
    vocab_size: int
    """Tokenizer vocabulary size."""
    special_ids: dict[str, int]
    """Tokenizer special ids by role ('pad', 'cls', 'sep', 'mask', ...)."""
    tokenizer_fingerprint: str
    """Hash of the tokenizer that produced the ids; training refuses any other."""
    tokenizer_kind: str
    """'sentencepiece' or 'mecab-wordpiece'."""
    conventions: dict
    """The InputConventions (as a dict) that framed the rows."""
    splits: dict[str, SplitStats] = field(default_factory=dict)
    """Counts per split."""
    format_version: int = FORMAT_VERSION
    """Bumped when the file layout changes."""
    corpus: str | None = None
    """The corpus folder that was packed (absolute): model cards read its corpus.json and report.json."""

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.id_dtype not in ("uint16", "int32"):
            raise ValueError(f"id_dtype must be uint16 or int32, got {self.id_dtype!r}")
        self.splits = {k: v if isinstance(v, SplitStats) else SplitStats(**v) for k, v in self.splits.items()}

    def save(self, directory: Path) -> None:
        (Path(directory) / HEADER_FILE).write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> "ShardHeader":
        path = Path(directory) / HEADER_FILE
        if not path.exists():
            raise JarobertaError(f"{directory} is not a shard directory (no {HEADER_FILE}); make one with `jaroberta pack`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if "tokenizer_family" in data:  # shards packed before the key was named for what it holds
                data["tokenizer_kind"] = data.pop("tokenizer_family")
            return cls(**data)
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise JarobertaError(f"{path} is corrupt ({exc}); re-run `jaroberta pack`") from exc


def id_dtype_for(vocab_size: int) -> str:
    """uint16 halves the disk and page-cache footprint whenever the ids fit."""
    if vocab_size > MAX_VOCAB_SIZE:  # training refuses such sizes; a tokenizer made elsewhere may not
        raise JarobertaError(f"a vocabulary of {vocab_size:,} pieces is more than int32 token ids can number ({MAX_VOCAB_SIZE:,})")
    return "uint16" if vocab_size <= np.iinfo(np.uint16).max else "int32"


class SplitWriter:
    """Appends rows of one split to its three files."""

    def __init__(self, directory: Path, split: str, seq_len: int, id_dtype: str):
        self.seq_len = seq_len
        self.id_dtype = np.dtype(id_dtype)
        self.stats = SplitStats()
        self._files = {kind: open(Path(directory) / f"{split}.{kind}.bin", "wb") for kind in ("ids", "words", "lengths")}

    def write(self, ids: list[int], words: list[int], pad_id: int) -> None:
        """One row: `ids` and `words` (None/-1 for specials) of equal length <= seq_len, padded here."""
        length = len(ids)
        if length > self.seq_len or len(words) != length:
            raise ValueError(f"row of {length} ids / {len(words)} words does not fit seq_len {self.seq_len}")
        padding = self.seq_len - length
        row_ids = np.full(self.seq_len, pad_id, dtype=self.id_dtype)
        row_ids[:length] = ids
        row_words = np.full(self.seq_len, NO_WORD_STORED, dtype=np.uint16)
        row_words[:length] = [NO_WORD_STORED if w is None or w < 0 else w for w in words]
        self._files["ids"].write(row_ids.tobytes())
        self._files["words"].write(row_words.tobytes())
        self._files["lengths"].write(np.int32(length).tobytes())
        self.stats.rows += 1
        self.stats.tokens += length
        self.stats.padded_tokens += padding

    def close(self) -> SplitStats:
        for handle in self._files.values():
            handle.close()
        slots = self.stats.rows * self.seq_len
        self.stats.padding_share = self.stats.padded_tokens / slots if slots else 0.0
        return self.stats


@dataclass
class SplitArrays:
    """One split, memory-mapped read-only."""

    ids: np.ndarray
    """(rows, seq_len) token ids."""
    words: np.ndarray
    """(rows, seq_len) uint16 word index within the row; NO_WORD_STORED at specials."""
    lengths: np.ndarray
    """(rows,) real tokens per row."""

    def __len__(self) -> int:
        return self.ids.shape[0]


def open_split(directory: str | Path, split: str, header: ShardHeader | None = None) -> SplitArrays:
    """Memory-map one split of a shard directory."""
    directory = Path(directory)
    header = header or ShardHeader.load(directory)
    if split not in header.splits:
        raise JarobertaError(f"{directory}: no '{split}' split (has {sorted(header.splits)}); re-run `jaroberta pack`")
    rows, seq_len = header.splits[split].rows, header.seq_len
    if rows == 0:
        raise JarobertaError(f"{directory}: the '{split}' split is empty; the corpus is too small for max_length {seq_len}")

    def mapped(kind: str, dtype, shape):
        path = directory / f"{split}.{kind}.bin"
        expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if not path.exists() or path.stat().st_size != expected:
            raise JarobertaError(f"{path} is missing or truncated (expected {expected} bytes); re-run `jaroberta pack`")
        return np.memmap(path, dtype=dtype, mode="r", shape=shape)

    return SplitArrays(
        ids=mapped("ids", header.id_dtype, (rows, seq_len)),
        words=mapped("words", np.uint16, (rows, seq_len)),
        lengths=mapped("lengths", np.int32, (rows,)),
    )
