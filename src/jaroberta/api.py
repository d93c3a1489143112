"""The verbs of jaroberta where a stage's inputs meet: each is the function its CLI command calls."""

from __future__ import annotations

from jaroberta.corpus.layout import training_sentences
from jaroberta.corpus.pack import PackConfig
from jaroberta.corpus.pack import pack as pack_shards
from jaroberta.corpus.shards import ShardHeader
from jaroberta.model.families import family_of_tokenizer
from jaroberta.text import JaTokenizer, TokenizerTrainConfig, load_tokenizer
from jaroberta.text import train_tokenizer as train_on_sentences


def train_tokenizer(config: TokenizerTrainConfig) -> JaTokenizer:
    """Train a tokenizer on `config.inputs`: corpus folders (their train split) or text files."""
    return train_on_sentences(config, training_sentences(config.inputs))


def pack(config: PackConfig) -> ShardHeader:
    """Tokenize a corpus into shards, framed as a model of the tokenizer's family expects."""
    tokenizer = load_tokenizer(config.tokenizer)
    family = family_of_tokenizer(tokenizer.family, getattr(tokenizer, "system_dict", None))
    conventions = family.conventions_for(tokenizer.normalization, config.seq_len)
    return pack_shards(config, tokenizer, conventions)
