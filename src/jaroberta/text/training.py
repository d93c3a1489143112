"""Training a tokenizer of either family from a corpus: one config, a registry of trainers.

`train_tokenizer(TokenizerTrainConfig(...), sentences)` takes the training sentences (by
default the lines of the config's text files; `jaroberta.train_tokenizer` also reads corpus
folders made by `jaroberta corpus build`), applies the family's normalization *before* training (so the vocabulary is learned on exactly the
text that encoding will see), trains, saves to `out` when given, and returns the
tokenizer. Each family registers one trainer function in `TRAINERS`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.text.base import MAX_VOCAB_SIZE, JaTokenizer
from jaroberta.core.files import text_file_lines
from jaroberta.core.outputs import claim_output, record_output
from jaroberta.text.mecab import SYSTEM_DICTS
from jaroberta.text.normalize import JMED_NORMALIZATION, RINNA_NORMALIZATION, Normalization
from jaroberta.text.unigram import train_sentencepiece
from jaroberta.text.wordpiece import train_mecab_wordpiece

log = logging.getLogger(__name__)

MAX_PIECE_CHARS = 16
"""SentencePiece's longest piece (its max_piece_length); a WordPiece piece is a character, its
## form or a merge. So a corpus of n characters holds at most 16 n distinct pieces either way."""
SPECIAL_PIECES = 16
"""Room for the special and control pieces every vocabulary adds (rinna's has 8, JMedRoBERTa's 5)."""

DEFAULT_VOCAB = {"sentencepiece": 32000, "mecab-wordpiece": 30000}
"""rinna's and JMedRoBERTa's vocabulary sizes."""
DEFAULT_NORMALIZATION = {"sentencepiece": RINNA_NORMALIZATION, "mecab-wordpiece": JMED_NORMALIZATION}


@dataclass
class TokenizerTrainConfig:
    """Everything that decides a trained tokenizer."""

    tokenizer_kind: str
    """'sentencepiece' (rinna layout) or 'mecab-wordpiece' (JMedRoBERTa layout)."""
    inputs: tuple[Path, ...]
    """Corpus folders from `jaroberta corpus build` (train split) or text files, one sentence per line."""
    out: Path | None = None
    """Folder to save the tokenizer into (None: only return it)."""
    overwrite: bool = False
    """Replace a tokenizer an earlier `tokenizer train` wrote into `out` (files it did not write are kept)."""
    vocab_size: int | None = None
    """Vocabulary size; None = the family's default (32000 sentencepiece, 30000 mecab-wordpiece)."""
    character_coverage: float = 0.9995
    """SentencePiece: share of characters covered by the vocabulary (rare ones become <unk>)."""
    sample_sentences: int = 2_000_000
    """SentencePiece: train on a random sample of this many sentences (0 = all)."""
    system_dict: str = "ipadic"
    """MeCab system dictionary: 'ipadic' or 'unidic-lite'."""
    user_dicts: tuple[Path, ...] = ()
    """MeCab user dictionaries (.dic), e.g. from `jaroberta dict build`."""
    normalization: Normalization | None = None
    """Override of the family's normalization (rinna: lower-case; JMedRoBERTa: full-width)."""
    min_frequency: int = 2
    """WordPiece: minimum count of a merge."""
    workers: int = 1
    """Processes for MeCab segmentation / threads for SentencePiece."""

    def __post_init__(self) -> None:
        self.inputs = tuple(Path(p) for p in self.inputs)
        self.user_dicts = tuple(Path(p) for p in self.user_dicts)
        if self.tokenizer_kind not in DEFAULT_VOCAB:
            raise JarobertaError(f"unknown tokenizer kind {self.tokenizer_kind!r}; choose one of {sorted(DEFAULT_VOCAB)}")
        if not self.inputs:
            raise JarobertaError("no training input given: pass a corpus folder or text files")
        for path in self.inputs:
            if not path.exists():  # checked now, not halfway through reading
                raise JarobertaError(f"training input {path} does not exist: give a corpus folder or a text file")
        if self.vocab_size is None:
            self.vocab_size = DEFAULT_VOCAB[self.tokenizer_kind]
        if self.vocab_size < 10:
            raise JarobertaError(f"vocab_size {self.vocab_size} is too small")
        if self.vocab_size > MAX_VOCAB_SIZE:
            raise JarobertaError(f"vocab_size {self.vocab_size:,} is more than token ids can number: pack stores them as "
                                 f"int32, so at most {MAX_VOCAB_SIZE:,} pieces; ask for fewer")
        if not 0.0 < self.character_coverage <= 1.0:
            raise JarobertaError(f"character_coverage must be in (0, 1], got {self.character_coverage}")
        if self.sample_sentences < 0 or self.workers < 1:
            raise JarobertaError("sample_sentences must be >= 0 and workers >= 1")
        if self.system_dict not in SYSTEM_DICTS:
            raise JarobertaError(f"unknown system dictionary {self.system_dict!r}; choose one of {tuple(SYSTEM_DICTS)}")
        if self.user_dicts and self.tokenizer_kind != "mecab-wordpiece":
            raise JarobertaError("user dictionaries only apply to the mecab-wordpiece kind (the MeCab families)")
        if self.normalization is None:
            self.normalization = DEFAULT_NORMALIZATION[self.tokenizer_kind]




def check_corpus_holds(config: TokenizerTrainConfig) -> None:
    """Refuse, before any training, a vocabulary larger than the inputs could fill (a huge size
    would otherwise run for minutes, or exhaust memory inside the trainer)."""
    text_bytes = sum(_sizes(path) for path in config.inputs)
    most = MAX_PIECE_CHARS * text_bytes + SPECIAL_PIECES
    if config.vocab_size > most:
        raise JarobertaError(
            f"vocab_size {config.vocab_size:,} is more than {', '.join(map(str, config.inputs))} can fill: "
            f"{text_bytes:,} bytes of text hold at most {most:,} distinct pieces ({MAX_PIECE_CHARS} per character, "
            f"plus {SPECIAL_PIECES} special ones); ask for fewer, or train on more text")


def _sizes(path: Path) -> int:
    """Bytes of a text file, or of every file under a corpus folder (an upper bound on its text)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def iter_sentences(inputs: tuple[Path, ...]) -> Iterator[str]:
    """The non-empty lines of text files, one sentence per line."""
    for path in inputs:
        if path.is_dir():
            raise JarobertaError(
                f"training input {path} is a folder: give text files here, or read a corpus folder through "
                f"`jaroberta.train_tokenizer` / `jaroberta tokenizer train`"
            )
        yield from text_file_lines(path)


TRAINERS: dict[str, Callable[[TokenizerTrainConfig, Iterable[str]], JaTokenizer]] = {
    "sentencepiece": train_sentencepiece,
    "mecab-wordpiece": train_mecab_wordpiece,
}


TRAIN_REPORT = "jaroberta_train_report.json"
"""What `train_tokenizer` asked for and got, beside the tokenizer files it saves."""


def train_tokenizer(config: TokenizerTrainConfig, sentences: Iterable[str] | None = None) -> JaTokenizer:
    """Train the configured family on `sentences` (default: the lines of `config.inputs`), save it
    to `config.out` when set, and return it.

    A vocabulary of another size than asked is never silent: a warning, and a note in
    `jaroberta_train_report.json`.
    """
    sentences = iter(iter_sentences(config.inputs) if sentences is None else sentences)
    first = next(sentences, None)
    if first is None:
        raise JarobertaError(f"no text to train on in {', '.join(map(str, config.inputs))}: give text files "
                             f"(one sentence per line) or a corpus folder with a non-empty train split")
    check_corpus_holds(config)
    if config.out is not None:  # before training: OUT is new, empty, or an earlier training's
        claim_output(config.out, "tokenizer train", overwrite=config.overwrite)
    tokenizer = TRAINERS[config.tokenizer_kind](config, chain([first], sentences))
    notes = vocabulary_notes(config, tokenizer.vocab_size)
    for note in notes:
        log.warning("warning: %s", note)
    if config.out is not None:
        tokenizer.save(config.out)
        _write_report(config, tokenizer, notes)
        record_output(config.out)
        log.debug("tokenizer (%s, vocab %d) saved to %s", tokenizer.tokenizer_kind, tokenizer.vocab_size, config.out)
    return tokenizer


def vocabulary_notes(config: TokenizerTrainConfig, vocab_size: int) -> list[str]:
    """Why the vocabulary has another size than --vocab-size, in words ([] when it has that size)."""
    if vocab_size < config.vocab_size:
        return [f"the vocabulary shrank from the {config.vocab_size:,} asked to {vocab_size:,}: that is as many pieces "
                f"as this corpus allows; train on more text for a larger one, or pass --vocab-size {vocab_size}"]
    if vocab_size > config.vocab_size:
        return [f"the vocabulary has {vocab_size:,} entries, more than the {config.vocab_size:,} asked: this corpus "
                f"needs at least that many (WordPiece keeps every character, and its ## form)"]
    return []


def _write_report(config: TokenizerTrainConfig, tokenizer: JaTokenizer, notes: list[str]) -> None:
    report = {
        "tokenizer_kind": tokenizer.tokenizer_kind,
        "inputs": [str(p) for p in config.inputs],
        "vocab_size_asked": config.vocab_size,
        "vocab_size": tokenizer.vocab_size,
        "notes": notes,
    }
    (Path(config.out) / TRAIN_REPORT).write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
