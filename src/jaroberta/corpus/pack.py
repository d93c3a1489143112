"""Packing: tokenize a corpus's train and dev splits into fixed-length shards.

Two layouts:
- `document` (rinna): each row is one document, framed by the model's conventions
  (`[CLS]` + the document's pieces for the rinna family), truncated to `max_length`;
  shorter rows are padded. Truncation is counted in the header.
- `full` (RoBERTa's FULL-SENTENCES, JMedRoBERTa): documents are concatenated with the
  separator (`[SEP]`) after each one and cut into rows of exactly `max_length`, each row
  starting with the conventions' prefix (`[CLS]`); no padding except the last row.

Framing tokens come from the `InputConventions` the caller passes (the model family's),
never decided here. Word ids travel with the pieces for whole-word masking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Literal

from jaroberta.corpus.layout import iter_documents, read_manifest
from jaroberta.corpus.shards import LAYOUTS, TOKENIZER_DIR, ShardHeader, SplitStats, SplitWriter, id_dtype_for
from jaroberta.errors import JarobertaError
from jaroberta.core.files import fresh_dir
from jaroberta.core.outputs import claim_output, record_output
from jaroberta.core.progress import progress_bar

log = logging.getLogger(__name__)

SPLITS = ("train", "dev")


@dataclass(frozen=True)
class PackConfig:
    """What `jaroberta pack` does."""

    corpus: Path
    """Corpus directory made by `jaroberta corpus build`."""
    tokenizer: Path
    """Tokenizer folder (`jaroberta tokenizer train`), or a model folder or hub id whose tokenizer to use."""
    out: Path
    """Shard directory to create."""
    overwrite: bool = False
    """Replace shards an earlier `pack` wrote into `out` (files it did not write are kept)."""
    max_length: int = 512
    """Row length in tokens, special tokens included."""
    layout: Literal["document", "full"] = "document"
    """document (rinna: [CLS] + one document per row, truncated) or full (RoBERTa FULL-SENTENCES, JMedRoBERTa:
    documents back to back, [SEP] between)."""
    workers: int = 1
    """Tokenizer workers: threads, or processes where MeCab cannot run without the GIL."""
    revision: str | None = None
    """Hub commit, branch or tag of the tokenizer when it is a hub id."""
    documents_per_batch: int = 256
    """Documents tokenized together (bounds memory, feeds the workers)."""

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise JarobertaError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.max_length < 8:
            raise JarobertaError(f"max_length {self.max_length} is too short (at least 8)")
        if self.workers < 1:
            raise JarobertaError("workers must be >= 1")


@dataclass(frozen=True)
class Framing:
    """Special-token ids for framing rows, resolved from the conventions once."""

    prefix: list[int]
    suffix: list[int]
    separator: list[int]
    pad: int


Piece = tuple[int, int]
"""(token id, word index in its document; -1 for special tokens)."""


def pack(config: PackConfig, tokenizer, conventions) -> ShardHeader:
    """Tokenize both splits of `config.corpus` into `config.out` with `tokenizer` (loaded from
    `config.tokenizer`), framing rows by `conventions` (the model's `InputConventions`, resolved by
    the caller from the model family); returns the header written."""
    framing = _framing(conventions, tokenizer)
    out = claim_output(config.out, "pack", overwrite=config.overwrite)
    header = ShardHeader(
        layout=config.layout,
        seq_len=config.max_length,
        id_dtype=id_dtype_for(tokenizer.vocab_size),
        vocab_size=tokenizer.vocab_size,
        special_ids=dict(tokenizer.special_ids),
        tokenizer_fingerprint=tokenizer.fingerprint,
        tokenizer_kind=tokenizer.tokenizer_kind,
        conventions=conventions.to_dict(),
        corpus=str(Path(config.corpus).resolve()),
    )
    for split in SPLITS:
        literal = _LiteralMasks(tokenizer)
        documents = (literal.neutralized(document) for document in iter_documents(config.corpus, split=split))
        pieces = _tokenized(documents, tokenizer, config, split)
        header.splits[split] = _write_split(out, split, header, pieces, framing)
        header.splits[split].literal_masks = literal.count
        _check_not_empty(config, split, header.splits[split])
    tokenizer.save(fresh_dir(out / TOKENIZER_DIR))
    header.save(out)
    _report(out, header)
    record_output(out)
    return header


class _LiteralMasks:
    """Corpus text that contains the literal mask token ("[MASK]", say in a document about
    BERT) is text: the tokenizers' literal-mask rule (the mask id, for users marking a
    blank) must not apply to training data. Each occurrence is replaced by the token's
    normalized form ("[mask]" for rinna, "［ＭＡＳＫ］" for JMedRoBERTa), which the tokenizer
    would have made of it anyway had it been ordinary text, and counted."""

    def __init__(self, tokenizer):
        self.token = tokenizer.mask_token
        normalized = tokenizer.normalization(self.token)
        # Without a normalization that changes it, lower-case it: the literal rule is case-sensitive.
        self.replacement = normalized if normalized != self.token else self.token.lower()
        self.count = 0

    def neutralized(self, document: list[str]) -> list[str]:
        if not self.token or not any(self.token in sentence for sentence in document):
            return document
        self.count += sum(sentence.count(self.token) for sentence in document)
        return [sentence.replace(self.token, self.replacement) for sentence in document]


def _framing(conventions, tokenizer) -> Framing:
    def ids(tokens) -> list[int]:
        found = [tokenizer.token_to_id(t) for t in tokens]
        if None in found:
            raise JarobertaError(f"the tokenizer has no id for one of {list(tokens)} (needed by the {conventions.name} conventions)")
        return found

    return Framing(ids(conventions.prefix), ids(conventions.suffix), ids(conventions.pair_separator), tokenizer.special_ids["pad"])


def _tokenized(documents: Iterable[list[str]], tokenizer, config: PackConfig, split: str) -> Iterator[list[Piece]]:
    """Each document as its pieces with document-level word indices (sentences concatenated)."""
    batch: list[list[str]] = []
    total = _documents_in(config.corpus, split)
    with progress_bar(desc=f"pack {split}", unit=" docs", total=total, mininterval=1.0) as bar:
        for document in documents:
            batch.append(document)
            if len(batch) >= config.documents_per_batch:
                yield from _encode_documents(batch, tokenizer, config.workers)
                bar.update(len(batch))
                batch = []
        if batch:
            yield from _encode_documents(batch, tokenizer, config.workers)
            bar.update(len(batch))


def _documents_in(corpus: Path, split: str) -> int | None:
    """The split's document count from corpus.json, for the progress bar's total and ETA
    (None where the manifest does not say: the bar then counts without a total)."""
    try:
        count = read_manifest(corpus)["splits"][split]["documents"]
    except (JarobertaError, KeyError, TypeError):
        return None
    return count if isinstance(count, int) else None


def _encode_documents(documents: list[list[str]], tokenizer, workers: int) -> Iterator[list[Piece]]:
    sentences = [s for document in documents for s in document]
    encodings = iter(tokenizer.encode_batch(sentences, workers=workers))
    for document in documents:
        pieces: list[Piece] = []
        words_before = 0
        for _ in document:
            encoding = next(encodings)
            words = encoding.word_ids or list(range(len(encoding.ids)))
            pieces.extend((i, words_before + w) for i, w in zip(encoding.ids, words))
            words_before += (max(words) + 1) if words else 0
        yield pieces


def _write_split(out: Path, split: str, header: ShardHeader, documents: Iterable[list[Piece]], framing: Framing) -> SplitStats:
    writer = SplitWriter(out, split, header.seq_len, header.id_dtype)
    rows = _document_rows if header.layout == "document" else _full_rows
    for row in rows(documents, header.seq_len, framing, writer.stats):
        ids = [i for i, _ in row]
        writer.write(ids, _row_relative_words(row), framing.pad)
    return writer.close()


def _document_rows(documents, seq_len: int, framing: Framing, stats: SplitStats) -> Iterator[list[Piece]]:
    """rinna: [CLS] + one document (+ suffix), truncated to seq_len."""
    room = seq_len - len(framing.prefix) - len(framing.suffix)
    for pieces in documents:
        if not pieces:
            stats.empty_documents += 1
            continue
        stats.documents += 1
        if len(pieces) > room:
            stats.truncated_documents += 1
            stats.truncated_tokens += len(pieces) - room
        yield _specials(framing.prefix) + pieces[:room] + _specials(framing.suffix)


def _full_rows(documents, seq_len: int, framing: Framing, stats: SplitStats) -> Iterator[list[Piece]]:
    """FULL-SENTENCES: a stream of documents, each followed by [SEP], cut every seq_len (prefix included)."""
    room = seq_len - len(framing.prefix)
    stream: list[Piece] = []
    word_offset = 0  # word indices keep growing across documents so words never merge
    for pieces in documents:
        if not pieces:
            stats.empty_documents += 1
            continue
        stats.documents += 1
        stream.extend((i, w + word_offset) for i, w in pieces)
        stream.extend(_specials(framing.separator))
        word_offset += pieces[-1][1] + 1
        while len(stream) >= room:
            yield _specials(framing.prefix) + stream[:room]
            stream = stream[room:]
    if any(w >= 0 for _, w in stream):  # the last, shorter row (padded); a lone [SEP] is not a row
        yield _specials(framing.prefix) + stream
    elif stream:
        stats.truncated_tokens += len(stream)


def _specials(ids: list[int]) -> list[Piece]:
    return [(i, -1) for i in ids]


def _row_relative_words(row: list[Piece]) -> list[int]:
    """Word indices restarted at 0 in each row, so they fit uint16 whatever the corpus size."""
    first = next((w for _, w in row if w >= 0), 0)
    return [w - first if w >= 0 else -1 for _, w in row]


def _check_not_empty(config: PackConfig, split: str, stats: SplitStats) -> None:
    if stats.rows == 0:
        raise JarobertaError(
            f"corpus {config.corpus}: the '{split}' split has no usable documents "
            f"({stats.empty_documents} empty); the corpus is too small: add text or rebuild it with a dev split"
        )


def _report(out: Path, header: ShardHeader) -> None:
    """At DEBUG: `header` is the report, which the caller shows (`jaroberta pack` prints it)."""
    for split, s in header.splits.items():
        log.debug(
            "%s: %d rows, %d tokens from %d documents (%d empty skipped, %d truncated losing %d tokens, %d padding = %.1f%% of the rows)",
            split, s.rows, s.tokens, s.documents, s.empty_documents, s.truncated_documents, s.truncated_tokens, s.padded_tokens,
            100 * s.padding_share,
        )
        if s.literal_masks:
            log.debug("%s: %d literal mask-token strings in the text packed as text, not as the mask id", split, s.literal_masks)
    log.debug("shards written to %s (%s layout, seq_len %d, %s ids)", out, header.layout, header.seq_len, header.id_dtype)
