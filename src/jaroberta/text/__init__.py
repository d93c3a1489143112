"""Normalization, MeCab, the two tokenizer families, user dictionaries.

- `load_tokenizer(path)`: any tokenizer folder (ours, rinna's, JMedRoBERTa's).
- `train_tokenizer(TokenizerTrainConfig(...), sentences)`: train either family.
- `SentencePieceTokenizer` (rinna family), `MecabWordPieceTokenizer` (JMedRoBERTa family).
"""

from jaroberta.text.base import Encoding, JaTokenizer
from jaroberta.text.loading import load_tokenizer
from jaroberta.text.normalize import JMED_NORMALIZATION, RINNA_NORMALIZATION, Normalization
from jaroberta.text.training import TokenizerTrainConfig, train_tokenizer
from jaroberta.text.unigram import SentencePieceTokenizer
from jaroberta.text.wordpiece import MecabWordPieceTokenizer

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

