"""A seed's training recipe, scaled to any number of steps; the recipes themselves are in
`families.py` (`RECIPES`), with the families that name them.

Values from the seeds' model cards and training code. Where a seed is silent we say what we chose:
- rinna's card gives no warmup length: we use 1% of the steps, JMedRoBERTa's ratio.
- JMedRoBERTa names plain Adam: weight decay 0 (transformers' default), clip 1.0 (the
  Trainer default its run_mlm.py-style training used).
"""

from __future__ import annotations

from dataclasses import dataclass

from jaroberta.model.masking import MaskingConfig


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
