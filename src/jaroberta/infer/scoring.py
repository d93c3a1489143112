"""Pseudo-log-likelihood of sentences (Salazar et al., 2020): how natural a text is to a
masked LM.

Each piece is masked in turn and the model's log-probability of the true piece is
summed: PLL(s) = sum_i log P(w_i | s without w_i). Pseudo-perplexity is exp(-PLL / n).
All the masked copies of all the sentences go through one length-bucketed stream of
batches, and the MLM head runs only at the one masked position of each copy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from jaroberta.errors import JarobertaError
from jaroberta.model.forward import token_log_probs
from jaroberta.model.loading import LoadedModel


@dataclass
class SentenceScore:
    """How likely the model finds one text."""

    text: str
    """The text as given."""
    pll: float
    """Pseudo-log-likelihood: sum over pieces of log P(piece | the rest), natural log."""
    n_tokens: int
    """Pieces scored (special tokens are not)."""
    pseudo_perplexity: float
    """exp(-pll / n_tokens); nan for a text with no pieces."""
    truncated: bool = False
    """The text was cut to the model's limit before scoring."""

    def to_dict(self) -> dict:
        return asdict(self)


def pseudo_log_likelihood(
    lm: LoadedModel, texts: list[str], *, batch_size: int = 64, truncate: bool = False
) -> list[SentenceScore]:
    """PLL and pseudo-perplexity of every text (a text of n pieces costs n masked copies)."""
    if isinstance(texts, str):
        texts = [texts]
    framed, truncated = _frame_all(lm, texts, truncate)
    copies, positions, true_ids, owner = [], [], [], []
    for t, ids in enumerate(framed):
        for pos in _scored_positions(lm, ids):
            copies.append(ids[:pos] + [lm.mask_id] + ids[pos + 1 :])
            positions.append(pos)
            true_ids.append(ids[pos])
            owner.append(t)
    log_probs = token_log_probs(lm, copies, positions, true_ids, batch_size=batch_size, what="scoring")

    pll = [0.0] * len(texts)
    counts = [0] * len(texts)
    for t, lp in zip(owner, log_probs):
        pll[t] += lp
        counts[t] += 1
    return [
        SentenceScore(
            text=text,
            pll=pll[t],
            n_tokens=counts[t],
            pseudo_perplexity=math.exp(-pll[t] / counts[t]) if counts[t] else math.nan,
            truncated=truncated[t],
        )
        for t, text in enumerate(texts)
    ]


def _frame_all(lm: LoadedModel, texts: list[str], truncate: bool) -> tuple[list[list[int]], list[bool]]:
    framed, truncated = [], []
    for i, text in enumerate(texts):
        where = f"text {i + 1}" if len(texts) > 1 else "text"
        pieces = lm.tokenizer.encode(text).ids
        if lm.mask_id in pieces:
            raise JarobertaError(f"{where}: contains {lm.conventions.mask_token}; scoring masks every piece itself, give plain text")
        fitted = lm.fit(pieces, truncate=truncate, where=where)
        framed.append(lm.frame(fitted))
        truncated.append(len(fitted) < len(pieces))
    return framed, truncated


def _scored_positions(lm: LoadedModel, framed: list[int]) -> range:
    """Framed indices of the pieces (the framing tokens are never scored)."""
    return range(lm.prefix_length, len(framed) - len(lm.conventions.suffix))
