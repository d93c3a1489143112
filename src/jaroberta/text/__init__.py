"""Normalization, MeCab, the two tokenizer families, user dictionaries.

- `load_tokenizer(path)`: any tokenizer folder (ours, rinna's, JMedRoBERTa's).
- `train_tokenizer(TokenizerTrainConfig(...))`: train either family from a corpus.
- `SentencePieceTokenizer` (rinna family), `MecabWordPieceTokenizer` (JMedRoBERTa family).
"""

from jaroberta.text.base import Encoding, JaTokenizer
from jaroberta.text.loading import load_tokenizer
from jaroberta.text.normalize import JMED_NORMALIZATION, RINNA_NORMALIZATION, Normalization
from jaroberta.text.training import TokenizerTrainConfig, train_tokenizer

__all__ = [
    "Encoding",
    "JaTokenizer",
    "JMED_NORMALIZATION",
    "MecabWordPieceTokenizer",
    "Normalization",
    "RINNA_NORMALIZATION",
    "SentencePieceTokenizer",
    "TokenizerTrainConfig",
    "load_tokenizer",
    "train_tokenizer",
]


def __getattr__(name: str):
    # The family classes import sentencepiece / tokenizers / fugashi: load them on first use.
    if name == "SentencePieceTokenizer":
        from jaroberta.text.unigram import SentencePieceTokenizer

        return SentencePieceTokenizer
    if name == "MecabWordPieceTokenizer":
        from jaroberta.text.wordpiece import MecabWordPieceTokenizer

        return MecabWordPieceTokenizer
    raise AttributeError(f"module 'jaroberta.text' has no attribute {name!r}")
