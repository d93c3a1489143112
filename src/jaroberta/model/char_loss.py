"""Masked-LM loss per character (bits per character): a yardstick that survives a tokenizer change.

    report = bits_per_character(lm, documents)          # documents: lists of sentences
    report = corpus_bits_per_character(lm, corpus_dir)  # a corpus split's documents

Perplexity per token moves when the vocabulary changes (a token of a 2,000-piece vocabulary
is not one of a 32,000-piece one); loss per character does not. So that two models predict
the same text, the masks are chosen in characters, not in either model's pieces:

- each sentence is cut into words by script (a run of kanji, of hiragana, of katakana, of
  Latin letters and digits; any other non-space character alone), which no tokenizer decides;
- in each document a fixed share (`rate`) of its words is chosen by a generator seeded with
  `seed` and the document's own text: the same document gets the same masked words whatever
  the model, the tokenizer, the batch or the order of the documents;
- every piece whose character span overlaps a chosen word is masked (whole-word masking);
  the loss is the summed cross-entropy of those pieces, in bits, over the characters they
  cover. Models with different vocabularies predict (nearly) the same characters: a piece
  that reaches past a chosen word adds its extra characters to both sums.

Documents are the sampling unit: the report carries the standard error of the ratio
(delta method) and a bootstrap percentile interval over documents, with a fixed seed.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from jaroberta.errors import JarobertaError
from jaroberta.model.forward import query_logits
from jaroberta.model.loading import LoadedModel
from jaroberta.model.perplexity import corpus_documents

BOOTSTRAP_SAMPLES = 1000
"""Resamples of the documents behind the interval."""
CONFIDENCE = 0.95
"""Coverage of the bootstrap interval."""

_WORD_RE = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆〇]+"  # kanji
    r"|[\u3041-\u309f]+"  # hiragana
    r"|[\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]+"  # katakana (with ー), half-width too
    r"|[0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+"  # Latin letters and digits, full-width too
    r"|\S"  # anything else: one character
)


@dataclass
class CharacterLossReport:
    """Masked-LM loss per character of a set of documents, with its uncertainty."""

    bits_per_character: float
    """Summed cross-entropy of the masked pieces (bits) over the characters they cover."""
    standard_error: float
    """Standard error of `bits_per_character` over documents (delta method for a ratio)."""
    interval: tuple[float, float]
    """Bootstrap percentile interval over documents (`confidence` coverage, fixed seed)."""
    confidence: float
    """Coverage of `interval`."""
    bits: float
    """Summed cross-entropy of the masked pieces, in bits."""
    characters: int
    """Characters covered by the masked pieces."""
    masked_words: int
    """Words chosen for masking."""
    masked_pieces: int
    """Pieces masked (every piece overlapping a chosen word)."""
    n_documents: int
    """Documents scored."""
    n_windows: int
    """Model inputs scored (a long document gives several)."""
    n_empty: int
    """Documents with no word, skipped (counted, not hidden)."""
    seed: int
    """Seed of the masks (with each document's text)."""
    rate: float
    """Share of each document's words masked."""

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        low, high = self.interval
        return (
            f"{self.bits_per_character:.4f} bits per character ± {self.standard_error:.4f} (standard error; "
            f"{100 * self.confidence:.0f}% bootstrap interval {low:.4f}–{high:.4f}) over {self.characters:,} masked characters "
            f"({self.masked_words:,} whole words, {self.masked_pieces:,} pieces) in {self.n_documents:,} documents "
            f"(seed {self.seed}, {100 * self.rate:g}% of words; {self.n_empty} empty documents skipped)"
        )


def words(sentence: str) -> list[tuple[int, int]]:
    """Character spans of the sentence's words, cut by script (module doc); no tokenizer involved."""
    return [m.span() for m in _WORD_RE.finditer(sentence)]


def bits_per_character(
    lm: LoadedModel,
    documents: Iterable[list[str]],
    *,
    seed: int = 0,
    rate: float = 0.15,
    batch_size: int = 16,
) -> CharacterLossReport:
    """Masked-LM loss per character of `lm` on `documents` (lists of sentences); see the module doc."""
    if not 0.0 < rate < 1.0:
        raise JarobertaError(f"the mask rate must be between 0 and 1 (exclusive), got {rate}")
    sequences, queries, owners, targets = [], [], [], []
    per_document: list[list[float]] = []  # [bits, characters] of each scored document
    masked_words = masked_pieces = n_empty = 0
    for document in documents:
        masked = _mask_document(lm, document, seed, rate)
        if masked is None:
            n_empty += 1
            continue
        pieces, positions, characters, chosen = masked
        masked_words += chosen
        masked_pieces += len(positions)
        owner = len(per_document)
        per_document.append([0.0, float(characters)])
        width = lm.conventions.max_pieces
        for start in range(0, len(pieces), width):
            window = [p - start for p in positions if start <= p < start + width]
            if not window:
                continue
            framed = lm.frame(pieces[start : start + width])
            query = [lm.prefix_length + p for p in window]
            true = [framed[q] for q in query]
            for q in query:
                framed[q] = lm.mask_id
            sequences.append(framed)
            queries.append(query)
            targets.append(true)
            owners.append(owner)
    if not per_document:
        raise JarobertaError("no text to score: every document was empty")
    for i, logits in query_logits(lm, sequences, queries, batch_size=batch_size, what="bits per character"):
        nats = float(torch.nn.functional.cross_entropy(logits, torch.tensor(targets[i], device=logits.device), reduction="sum"))
        per_document[owners[i]][0] += nats / math.log(2)
    table = np.array(per_document, dtype=np.float64)  # (documents, 2): bits, characters
    bits, characters = table.sum(axis=0)
    ratio = bits / characters
    return CharacterLossReport(
        bits_per_character=float(ratio),
        standard_error=ratio_standard_error(table[:, 0], table[:, 1]),
        interval=bootstrap_interval(table[:, 0], table[:, 1], seed=seed),
        confidence=CONFIDENCE,
        bits=float(bits),
        characters=int(characters),
        masked_words=masked_words,
        masked_pieces=masked_pieces,
        n_documents=len(per_document),
        n_windows=len(sequences),
        n_empty=n_empty,
        seed=seed,
        rate=rate,
    )


def corpus_bits_per_character(
    lm: LoadedModel,
    corpus_dir: str | Path,
    *,
    split: str = "dev",
    seed: int = 0,
    rate: float = 0.15,
    batch_size: int = 16,
    max_documents: int | None = None,
) -> CharacterLossReport:
    """`bits_per_character` of a corpus split's documents."""
    return bits_per_character(lm, corpus_documents(corpus_dir, split, max_documents), seed=seed, rate=rate,
                              batch_size=batch_size)


def ratio_standard_error(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """Standard error of sum(numerators) / sum(denominators) with documents as the sampling
    unit (delta method: the residuals n_i - R d_i carry the variance)."""
    n = len(numerators)
    if n < 2:
        return float("nan")
    ratio = numerators.sum() / denominators.sum()
    residuals = numerators - ratio * denominators
    return float(math.sqrt(n / (n - 1) * np.sum(residuals**2)) / denominators.sum())


def bootstrap_interval(numerators: np.ndarray, denominators: np.ndarray, *, seed: int = 0,
                       samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of sum(numerators) / sum(denominators) over documents resampled with
    replacement, from a fixed seed (the same documents give the same interval)."""
    n = len(numerators)
    picks = np.random.default_rng(seed).integers(0, n, size=(samples, n))
    ratios = numerators[picks].sum(axis=1) / denominators[picks].sum(axis=1)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def _mask_document(lm: LoadedModel, document: list[str], seed: int, rate: float):
    """(pieces of the document, masked piece positions, characters they cover, words chosen);
    None for a document with no word."""
    spans = [(s, start, end) for s, sentence in enumerate(document) for start, end in words(sentence)]
    if not spans:
        return None
    digest = hashlib.blake2b("\n".join(document).encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()
    count = max(1, round(rate * len(spans)))
    chosen = random.Random(int.from_bytes(digest, "little")).sample(spans, count)
    by_sentence: dict[int, list[tuple[int, int]]] = {}
    for s, start, end in chosen:
        by_sentence.setdefault(s, []).append((start, end))
    pieces, positions, characters = [], [], 0
    for s, encoding in enumerate(lm.tokenizer.encode_batch(list(document))):
        targets = by_sentence.get(s, ())
        for idx, (start, end) in zip(encoding.ids, encoding.offsets):
            if end > start and any(start < word_end and word_start < end for word_start, word_end in targets):
                positions.append(len(pieces))
                characters += end - start
            pieces.append(idx)
    if not positions:  # the chosen words fell on no piece (text the tokenizer drops): nothing to predict
        return None
    return pieces, positions, characters, count
