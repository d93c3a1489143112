"""Masked-token perplexity: exp of the mean cross-entropy over masked tokens, masks from a
fixed seed. Two measurements use it, under two names, because they read different text:

- document perplexity (`masked_perplexity`, `jaroberta eval perplexity`): rinna's definition,
  whole corpus documents at 15% masks, as described below;
- dev rows perplexity (pretraining's `dev_rows_perplexity` beside `dev_loss`): the same
  computation on the packed dev rows at the run's own mask rate, where a document is cut at
  the row's width (`--max-length`) and rows are what the run trains on. It tracks a run; it
  is not the document perplexity (different masks, different cuts), and the two do not agree.

Models with different tokenizers compare by loss per character instead (`model/char_loss.py`).

Examples are built as rinna built them: one document per example, its sentences'
pieces concatenated after `[CLS]`. Where rinna truncated at 512 tokens we cut a long
document into consecutive windows instead, so no dev text goes unscored. Masks are drawn
window by window in corpus order from one seeded generator with the pretraining code's
`mask_batch` (15% of the pieces, every chosen piece replaced by `[MASK]`): the same seed
gives the same masks whatever the batch size, and pretraining's dev evaluation and
`jaroberta eval perplexity` mask alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from jaroberta.corpus import iter_documents
from jaroberta.errors import JarobertaError
from jaroberta.model.forward import query_logits
from jaroberta.model.loading import LoadedModel
from jaroberta.model.masking import MaskingConfig, mask_batch

CHUNK_WINDOWS = 512
"""Windows masked and scored at a time (bounds memory on a large dev split)."""


@dataclass
class PerplexityReport:
    """Result of a dev perplexity run."""

    perplexity: float
    """exp(cross_entropy)."""
    cross_entropy: float
    """Mean negative log-likelihood of the masked tokens (nats)."""
    n_masked: int
    """Tokens predicted."""
    n_documents: int
    """Documents read."""
    n_windows: int
    """Examples scored (a long document gives several)."""
    n_empty: int
    """Documents with no pieces, skipped (counted, not hidden)."""
    split: str
    """Corpus split read."""
    seed: int
    """Seed of the masks."""
    rate: float
    """Fraction of pieces masked."""

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"document perplexity {self.perplexity:.3f} (cross-entropy {self.cross_entropy:.4f} nats) over {self.n_masked} masked "
            f"tokens in {self.n_windows} windows from {self.n_documents} {self.split} documents "
            f"(seed {self.seed}, rate {self.rate}; {self.n_empty} empty documents skipped)"
        )


def masked_perplexity(
    lm: LoadedModel,
    corpus_dir: str | Path,
    *,
    split: str = "dev",
    seed: int = 0,
    rate: float = 0.15,
    batch_size: int = 16,
    max_documents: int | None = None,
) -> PerplexityReport:
    """Document perplexity of `lm` on a corpus split (see module doc for the definition)."""
    counts = {"documents": 0, "empty": 0, "windows": 0}
    windows = _windows(lm, corpus_documents(corpus_dir, split, max_documents), counts)
    total_nll, n_masked = masked_nll(lm, windows, seed=seed, rate=rate, batch_size=batch_size)
    if n_masked == 0:
        raise JarobertaError(f"{corpus_dir}: the {split} split has no text to score ({counts['documents']} documents read)")
    cross_entropy = total_nll / n_masked
    return PerplexityReport(
        perplexity=math.exp(cross_entropy),
        cross_entropy=cross_entropy,
        n_masked=n_masked,
        n_documents=counts["documents"],
        n_windows=counts["windows"],
        n_empty=counts["empty"],
        split=split,
        seed=seed,
        rate=rate,
    )


def masked_nll(lm: LoadedModel, windows, *, seed: int = 0, rate: float = 0.15, batch_size: int = 16) -> tuple[float, int]:
    """(summed cross-entropy, masked tokens) over framed windows, masked in order from one
    seeded generator: the computation behind document perplexity and dev rows perplexity."""
    config = MaskingConfig(rate=rate, mask_fraction=1.0, random_fraction=0.0)  # rinna: every chosen piece -> [MASK]
    generator = torch.Generator().manual_seed(seed)
    total_nll, n_masked = 0.0, 0
    for chunk in _chunks(iter(windows), CHUNK_WINDOWS):
        masked = [_mask_window(lm, ids, config, generator) for ids in chunk]
        nll, n = _masked_nll(lm, masked, batch_size)
        total_nll += nll
        n_masked += n
    return total_nll, n_masked


def corpus_documents(corpus_dir, split: str, max_documents: int | None = None) -> Iterator[list[str]]:
    """The documents of a corpus split, the first `max_documents` of them where given."""
    if not Path(corpus_dir).exists():
        raise JarobertaError(f"corpus folder {corpus_dir} does not exist; build one with `jaroberta corpus build`")
    for i, document in enumerate(iter_documents(corpus_dir, split=split)):
        if max_documents is not None and i >= max_documents:
            return
        yield document


def _windows(lm: LoadedModel, documents: Iterator[list[str]], counts: dict) -> Iterator[list[int]]:
    """Framed examples: a document's pieces concatenated, cut into windows that fit the model."""
    width = lm.conventions.max_pieces
    for document in documents:
        counts["documents"] += 1
        pieces = [idx for ids in lm.tokenizer.encode_ids_batch(list(document)) for idx in ids]
        if not pieces:
            counts["empty"] += 1
            continue
        for start in range(0, len(pieces), width):
            counts["windows"] += 1
            yield lm.frame(pieces[start : start + width])


def _chunks(items: Iterator[list[int]], size: int) -> Iterator[list[list[int]]]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _mask_window(lm: LoadedModel, ids: list[int], config, generator) -> tuple[list[int], list[int], list[int]]:
    """(masked ids, masked positions, true ids) of one window; one row at a time so the
    masks do not depend on how windows are batched."""
    input_ids = torch.tensor([ids], dtype=torch.long)  # (1, T)
    special = torch.tensor([[i < lm.prefix_length or i >= len(ids) - len(lm.conventions.suffix) for i in range(len(ids))]])
    masked, labels = mask_batch(input_ids, special, config, lm.mask_id, lm.tokenizer.vocab_size, generator)
    positions = (labels[0] != -100).nonzero().flatten().tolist()
    return masked[0].tolist(), positions, [ids[p] for p in positions]


def _masked_nll(lm: LoadedModel, masked: list[tuple[list[int], list[int], list[int]]], batch_size: int) -> tuple[float, int]:
    """Summed cross-entropy of the masked tokens, and how many there were."""
    sequences = [m[0] for m in masked]
    queries = [m[1] for m in masked]
    total, count = 0.0, 0
    for i, logits in query_logits(lm, sequences, queries, batch_size=batch_size, what="perplexity"):
        targets = torch.tensor(masked[i][2], device=logits.device)
        total += float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum"))
        count += len(targets)
    return total, count
