"""What every jaroberta tokenizer offers, whatever its family.

A tokenizer turns raw text into *pieces only*: no `[CLS]`, `[SEP]` or `</s>`. How a
sentence is framed with special tokens, and where position ids start, is the model's
business and is stated once, in `jaroberta.model.conventions.InputConventions`.

Each tokenizer applies its own `Normalization` (users never convert text by hand) and
reports, for every piece, the character span in the *original* text and the word it
came from (the MeCab word for the MeCab family, the `▁`-delimited word for
SentencePiece): what NER alignment and whole-word masking need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from jaroberta.text.normalize import Normalization

MAX_VOCAB_SIZE = 2**31 - 1
"""The most pieces a vocabulary may have: `pack` stores token ids as uint16 where they fit, else int32."""

SIDECAR = "jaroberta_tokenizer.json"
"""File written next to the Hugging Face tokenizer files: family, normalization,
dictionaries (by name and content hash), and a fingerprint."""

_SURROGATES = re.compile("[\ud800-\udfff]")


def without_surrogates(texts: list[str]) -> list[str]:
    """`texts` with lone surrogates replaced by U+FFFD, one character for one.

    A lone surrogate is not text (JSON escapes and Python's `surrogateescape` make them),
    and SentencePiece and MeCab refuse it with a TypeError; as U+FFFD it becomes an unknown
    piece like any other unseen character, and offsets still index the caller's text.
    """
    return [_SURROGATES.sub("\ufffd", t) if _SURROGATES.search(t) else t for t in texts]


@dataclass
class Encoding:
    """One text, tokenized: pieces only, no special tokens."""

    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]
    """Character span (start, end) of each piece in the original, un-normalized text."""
    word_ids: list[int] = field(default_factory=list)
    """Index of the word (MeCab word, or SentencePiece `▁` word) each piece belongs to."""
    unknown: int = 0
    """How many pieces are the unknown token (rare kanji, emoji...), counted not hidden."""

    def __len__(self) -> int:
        return len(self.ids)

    def to_dict(self) -> dict:
        return {"ids": self.ids, "tokens": self.tokens, "offsets": [list(o) for o in self.offsets],
                "word_ids": self.word_ids, "unknown": self.unknown}


@runtime_checkable
class JaTokenizer(Protocol):
    """The interface shared by both tokenizer families."""

    tokenizer_kind: str
    """'sentencepiece' (rinna family) or 'mecab-wordpiece' (JMedRoBERTa family)."""
    normalization: Normalization

    @property
    def vocab_size(self) -> int: ...

    @property
    def special_ids(self) -> dict[str, int]:
        """Ids of the special tokens by role: 'pad', 'unk', 'cls', 'sep', 'mask' (+ 'bos', 'eos')."""
        ...

    @property
    def fingerprint(self) -> str:
        """Hash of everything that changes ids: vocab/model, normalization, dictionaries."""
        ...

    def encode(self, text: str) -> Encoding: ...

    def encode_batch(self, texts: list[str], workers: int = 1) -> list[Encoding]: ...

    def encode_ids_batch(self, texts: list[str], workers: int = 1) -> list[list[int]]:
        """Fast path: ids only (packing, scoring)."""
        ...

    def token_to_id(self, token: str) -> int | None: ...

    def id_to_token(self, idx: int) -> str: ...

    def decode(self, ids: list[int]) -> str: ...

    def save(self, directory: str | Path) -> None:
        """Write Hugging Face-loadable files plus the jaroberta sidecar."""
        ...
