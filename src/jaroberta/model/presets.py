"""Model presets: Hugging Face configs for the two seed architectures and CPU-sized ones.

Every model is built with transformers' own classes (`RobertaForMaskedLM`,
`BertForMaskedLM`), so every checkpoint we write is Hugging Face native and loads with
`AutoModelForMaskedLM.from_pretrained`.

Sizes follow the vocabulary and special ids of the tokenizer the model is trained with;
`max_position_embeddings` follows the sequence length (RoBERTa keeps two extra rows, as
rinna's 514-row table does, because Hugging Face RoBERTa reserves `padding_idx + 1` rows
when it derives positions itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoConfig, AutoModelForMaskedLM, BertConfig, RobertaConfig

from jaroberta.errors import JarobertaError


@dataclass(frozen=True)
class Preset:
    """The shape of a model, independent of its tokenizer."""

    model_type: str
    """'roberta' (RobertaForMaskedLM, rinna) or 'bert' (BertForMaskedLM, JMedRoBERTa)."""
    layers: int
    """Transformer blocks."""
    hidden: int
    """Hidden size."""
    heads: int
    """Attention heads (must divide `hidden`)."""
    ffn: int
    """Feed-forward inner size."""
    dropout: float = 0.1
    """Hidden and attention dropout."""

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by heads {self.heads}")
        if self.model_type not in ("roberta", "bert"):
            raise ValueError(f"model_type must be 'roberta' or 'bert', got {self.model_type!r}")


PRESETS: dict[str, Preset] = {
    # rinna/japanese-roberta-base's config.json
    "rinna-base": Preset("roberta", layers=12, hidden=768, heads=12, ffn=3072),
    # BERT-base shape, as JMedRoBERTa
    "jmed-base": Preset("bert", layers=12, hidden=768, heads=12, ffn=3072),
    # CPU sizes: a few minutes of training show a falling loss
    "small": Preset("roberta", layers=4, hidden=256, heads=4, ffn=1024),
    "tiny": Preset("roberta", layers=2, hidden=64, heads=2, ffn=256, dropout=0.0),
    # The demo's CPU shape: 3,600 steps get it well below the unigram plateau (README, hironsan)
    "mini": Preset("roberta", layers=4, hidden=128, heads=4, ffn=512, dropout=0.0),
    "small-bert": Preset("bert", layers=4, hidden=256, heads=4, ffn=1024),
    "tiny-bert": Preset("bert", layers=2, hidden=64, heads=2, ffn=256, dropout=0.0),
    "mini-bert": Preset("bert", layers=4, hidden=128, heads=4, ffn=512, dropout=0.0),
}


def model_config(preset: str | Preset, vocab_size: int, special_ids: dict[str, int], seq_len: int):
    """A transformers config for `preset` sized to a tokenizer and a sequence length."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise JarobertaError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)} or give a config.json (model_config)")
        preset = PRESETS[preset]
    common = dict(
        vocab_size=vocab_size,
        hidden_size=preset.hidden,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        intermediate_size=preset.ffn,
        hidden_dropout_prob=preset.dropout,
        attention_probs_dropout_prob=preset.dropout,
        pad_token_id=special_ids["pad"],
        type_vocab_size=2,
    )
    if preset.model_type == "roberta":
        # rinna: 514 rows for 512 tokens, eps 1e-5, bos/eos = <s> </s> where the vocab has them.
        # Trap kept on purpose: transformers builds the position table with
        # padding_idx = pad id (3), so with rinna's positions from 0 the row of position 3
        # stays zero and never learns. rinna's checkpoint was trained exactly so; a model
        # meant to load as rinna's must share it.
        return RobertaConfig(
            **common,
            max_position_embeddings=seq_len + 2,
            layer_norm_eps=1e-5,
            bos_token_id=special_ids.get("bos", special_ids["cls"]),
            eos_token_id=special_ids.get("eos", special_ids["sep"]),
        )
    return BertConfig(**common, max_position_embeddings=max(seq_len, 512), layer_norm_eps=1e-12)


def config_from_file(path: str | Path, vocab_size: int, special_ids: dict[str, int]):
    """Any Hugging Face config.json (e.g. rinna/japanese-roberta-base's), checked against the tokenizer."""
    path = Path(path)
    try:
        config = AutoConfig.for_model(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise JarobertaError(f"cannot read model config {path}: {exc}") from exc
    if config.vocab_size < vocab_size:
        raise JarobertaError(
            f"{path}: vocab_size {config.vocab_size} is smaller than the tokenizer's {vocab_size}; "
            f"set vocab_size to at least {vocab_size}"
        )
    if config.pad_token_id != special_ids["pad"]:
        raise JarobertaError(f"{path}: pad_token_id {config.pad_token_id} differs from the tokenizer's [PAD] id {special_ids['pad']}")
    return config


def build_model(config):
    """A freshly initialized masked LM for `config`, with PyTorch SDPA attention."""
    return AutoModelForMaskedLM.from_config(config, attn_implementation="sdpa")


def max_sequence_length(config) -> int:
    """Longest framed input the model's position table allows."""
    extra = 2 if config.model_type in ("roberta", "xlm-roberta", "camembert") else 0
    return config.max_position_embeddings - extra

