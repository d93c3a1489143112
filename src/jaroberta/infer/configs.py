"""What the inference commands are asked, one typed config each: `jaroberta fill-mask`,
`score`, `embed` and `eval perplexity` make their flags from these fields (and their help from
the docstrings); the handlers pass the values to the `Model` methods of the same names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Batching:
    """How texts go through the model, for every inference command."""

    batch_size: int = 32
    """Inputs per forward pass."""
    truncate: bool = False
    """Cut texts longer than the model's limit instead of stopping with an error."""


@dataclass(frozen=True)
class FillMaskConfig(Batching):
    """`jaroberta fill-mask`: `Model.fill_mask`, or `Model.fill_span` with `span`."""

    top_k: int = 5
    """Candidates per mask."""
    targets: tuple[str, ...] = ()
    """Score only these candidates; a candidate of several pieces is scored by filling as many masks left to right."""
    span: int | None = None
    """Fill the text's single [MASK] with an answer of this many pieces (see strategy)."""
    strategy: Literal["greedy", "beam"] = "greedy"
    """With span: greedy completes each of the top-k first pieces; beam keeps beam_size partial answers."""
    beam_size: int = 4
    """With span and the beam strategy: the beam width."""


@dataclass(frozen=True)
class ScoreConfig(Batching):
    """`jaroberta score`: `Model.score`."""


@dataclass(frozen=True)
class EmbedConfig(Batching):
    """`jaroberta embed`: `Model.embed`."""

    pooling: Literal["mean", "cls"] = "mean"
    """Mean of the token vectors, or the [CLS] vector."""
    normalize: bool = False
    """L2-normalize every vector (cosine similarity = dot product)."""


@dataclass(frozen=True)
class PerplexityConfig:
    """`jaroberta eval perplexity`: `Model.perplexity`."""

    split: str = "dev"
    """Corpus split to read."""
    mask_seed: int = 0
    """Seed of the fixed masks; 0 is the one pretrain's dev perplexity uses."""
    mask_rate: float = 0.15
    """Fraction of pieces masked."""
    eval_limit: int | None = None
    """Evaluate at most N documents; None = all."""
    batch_size: int = 32
    """Inputs per forward pass."""
