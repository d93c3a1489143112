"""Normalization, MeCab, the two tokenizer kinds, user dictionaries.

- `load_tokenizer(path)`: any tokenizer folder (ours, rinna's, JMedRoBERTa's).
- `train_tokenizer(TokenizerTrainConfig(...), sentences)`: train either kind.
- `extend_tokenizer(base, domain_sentences, add)`: a published tokenizer with domain entries appended.
- `SentencePieceTokenizer` (rinna family), `MecabWordPieceTokenizer` (JMedRoBERTa family).

The names below load their module on first use, so that importing one light module of this
package does not pay for sentencepiece, tokenizers and transformers.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Encoding": "jaroberta.text.base",
    "JaTokenizer": "jaroberta.text.base",
    "JMED_NORMALIZATION": "jaroberta.text.normalize",
    "RINNA_NORMALIZATION": "jaroberta.text.normalize",
    "Normalization": "jaroberta.text.normalize",
    "load_tokenizer": "jaroberta.text.loading",
    "ExtendReport": "jaroberta.text.extend",
    "extend_tokenizer": "jaroberta.text.extend",
    "TokenizerTrainConfig": "jaroberta.text.training",
    "train_tokenizer": "jaroberta.text.training",
    "SentencePieceTokenizer": "jaroberta.text.unigram",
    "MecabWordPieceTokenizer": "jaroberta.text.wordpiece",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jaroberta.text' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
