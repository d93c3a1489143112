"""Dynamic masking for masked-language-model training, fresh every step.

Decided here, used by both the pretraining loop and dev perplexity (so they agree):
- `rate` of the non-special tokens is chosen (or of the words, with whole-word masking);
- a chosen token becomes `[MASK]` with probability `mask_fraction`, a random token with
  `random_fraction`, and stays itself otherwise (BERT's 80/10/10; rinna: 100/0/0);
- special tokens (and padding) are never chosen;
- every row gets at least one chosen token, so no batch is without a loss.

Everything is done with whole-tensor torch ops on the batch's device: no Python loop per
token, and one `torch.Generator` makes the masks reproducible (fixed-seed dev masks,
bit-exact resume).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE_INDEX = -100
"""Label of positions that are not predicted (PyTorch cross-entropy's ignore_index)."""

NO_WORD = -1
"""Word id of special tokens and padding in the `word_ids` tensors given to `mask_batch`."""


@dataclass(frozen=True)
class MaskingConfig:
    """How tokens are chosen and replaced."""

    rate: float = 0.15
    """Fraction of non-special tokens (of words, with `whole_word`) chosen for prediction."""
    mask_fraction: float = 0.8
    """Of the chosen tokens, the fraction replaced by [MASK]."""
    random_fraction: float = 0.1
    """Of the chosen tokens, the fraction replaced by a random token (the rest stay as they are)."""
    whole_word: bool = False
    """Choose whole words (all pieces of a MeCab / `▁` word together) instead of single pieces."""

    def __post_init__(self) -> None:
        if not 0.0 < self.rate < 1.0:
            raise ValueError(f"masking rate must be in (0, 1), got {self.rate}")
        for name in ("mask_fraction", "random_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.mask_fraction + self.random_fraction > 1.0 + 1e-9:
            raise ValueError(
                f"mask_fraction + random_fraction must be <= 1, got {self.mask_fraction} + {self.random_fraction}"
            )


BERT_MASKING = MaskingConfig()
"""BERT / RoBERTa / JMedRoBERTa: 15%, 80% [MASK], 10% random, 10% unchanged."""

RINNA_MASKING = MaskingConfig(mask_fraction=1.0, random_fraction=0.0)
"""rinna's training code: 15%, every chosen token replaced by [MASK]."""


def mask_batch(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    config: MaskingConfig,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator | None,
    word_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask a batch; returns (masked_ids, labels), both (B, T), labels -100 where not masked.

    `special_mask` (B, T) is true at special tokens and padding: never masked.
    `word_ids` (B, T) gives each piece's word index within its row (`NO_WORD` = -1 at
    specials); required when `config.whole_word`. `generator` must live on the device of
    `input_ids` (or be None for the global RNG).
    """
    if input_ids.shape != special_mask.shape:
        raise ValueError(f"input_ids {tuple(input_ids.shape)} and special_mask {tuple(special_mask.shape)} differ")
    candidates = ~special_mask.bool()
    if not bool(candidates.any(dim=1).all()):
        rows = (~candidates.any(dim=1)).nonzero().flatten().tolist()
        raise ValueError(f"rows {rows[:10]} have no maskable token (only special tokens or padding)")
    if config.whole_word:
        if word_ids is None:
            raise ValueError("whole-word masking needs word_ids")
        chosen = _choose_words(word_ids, candidates, config.rate, generator)
    else:
        chosen = _choose_pieces(candidates, config.rate, generator)
    chosen = _at_least_one_per_row(chosen, candidates, word_ids if config.whole_word else None, generator)

    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    masked_ids = _replace(input_ids, chosen, config, mask_id, vocab_size, generator)
    return masked_ids, labels


def _uniform(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=like.device)


def _choose_pieces(candidates: torch.Tensor, rate: float, generator) -> torch.Tensor:
    return (_uniform(candidates.shape, candidates, generator) < rate) & candidates


def _choose_words(word_ids: torch.Tensor, candidates: torch.Tensor, rate: float, generator) -> torch.Tensor:
    """One coin per (row, word), spread to all the word's pieces."""
    word_ids = word_ids.to(device=candidates.device, dtype=torch.long)
    safe_ids = word_ids.clamp(min=0)  # specials point at word 0 but are dropped by `candidates`
    n_words = int(safe_ids.max()) + 1
    coins = _uniform((word_ids.shape[0], n_words), candidates, generator) < rate  # (B, W)
    return coins.gather(1, safe_ids) & candidates & (word_ids != NO_WORD)


def _at_least_one_per_row(chosen, candidates, word_ids, generator) -> torch.Tensor:
    """Rows where nothing was chosen get one random candidate (its whole word, if whole-word)."""
    empty = ~chosen.any(dim=1)  # (B,)
    scores = _uniform(candidates.shape, candidates, generator).masked_fill(~candidates, -1.0)
    pick = scores.argmax(dim=1, keepdim=True)  # (B, 1): a random candidate per row
    forced = torch.zeros_like(chosen).scatter_(1, pick, True)
    if word_ids is not None:
        word_ids = word_ids.to(device=candidates.device, dtype=torch.long)
        forced = (word_ids == word_ids.gather(1, pick)) & candidates
    return chosen | (forced & empty.unsqueeze(1))


def _replace(input_ids, chosen, config: MaskingConfig, mask_id: int, vocab_size: int, generator) -> torch.Tensor:
    """80/10/10 (or the configured split) on the chosen positions."""
    roll = _uniform(input_ids.shape, input_ids, generator)
    to_mask = chosen & (roll < config.mask_fraction)
    to_random = chosen & (roll >= config.mask_fraction) & (roll < config.mask_fraction + config.random_fraction)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, device=input_ids.device, dtype=input_ids.dtype)
    masked = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    return torch.where(to_random, random_ids, masked)
