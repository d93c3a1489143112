"""The seeds' training recipes, scaled to any number of steps; each family (`families.py`) names one.

Values from the seeds' model cards and training code. Where a seed is silent we say what we chose:
- rinna's card gives no warmup length: we use 1% of the steps, JMedRoBERTa's ratio.
- JMedRoBERTa names plain Adam: weight decay 0 (transformers' default), clip 1.0 (the
  Trainer default its run_mlm.py-style training used).
"""

from __future__ import annotations

from dataclasses import dataclass

from jaroberta.errors import JarobertaError
from jaroberta.model.masking import BERT_MASKING, RINNA_MASKING, MaskingConfig


@dataclass(frozen=True)
class Recipe:
    """Optimizer, schedule and masking hyperparameters of one seed model."""

    lr: float
    """Peak learning rate."""
    betas: tuple[float, float]
    """Adam betas."""
    eps: float
    """Adam epsilon."""
    weight_decay: float
    """Decoupled weight decay (never on biases and LayerNorm weights)."""
    clip: float
    """Gradient-norm clipping threshold."""
    warmup_ratio: float
    """Linear warmup length as a fraction of all steps (then linear decay to 0)."""
    masking: MaskingConfig
    """How tokens are masked."""
    whole_word_for_mecab: bool
    """Use whole-word masking when the tokenizer is of the MeCab family."""
    layout: str
    """Shard layout the seed trained on ('document' or 'full'): a mismatch is warned about."""
    seed: int
    """Random seed."""

    def warmup_steps(self, steps: int) -> int:
        """The seed's warmup, scaled to a run of `steps`."""
        return max(1, round(steps * self.warmup_ratio)) if steps > 1 else 0


RECIPES: dict[str, Recipe] = {
    "rinna": Recipe(
        lr=6e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01, clip=1.0, warmup_ratio=0.01,
        masking=RINNA_MASKING, whole_word_for_mecab=False, layout="document", seed=0,
    ),
    "jmedroberta": Recipe(
        lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, clip=1.0, warmup_ratio=20_000 / 2_000_000,
        masking=BERT_MASKING, whole_word_for_mecab=True, layout="full", seed=42,
    ),
    # BERT's published pretraining recipe (Devlin et al., 2019: Adam 1e-4, betas 0.9/0.999,
    # eps 1e-6, weight decay 0.01, 10k warmup steps of 1M), which cl-tohoku's Japanese BERTs
    # follow with whole-word masking; the seed is our choice.
    "bert": Recipe(
        lr=1e-4, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01, clip=1.0, warmup_ratio=10_000 / 1_000_000,
        masking=BERT_MASKING, whole_word_for_mecab=True, layout="full", seed=42,
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise JarobertaError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]
