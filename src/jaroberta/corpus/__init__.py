"""Readers, cleaning, sentence splitting, dedup, train/dev split, packing to shards.

- `iter_documents(corpus_dir, split)`, `iter_sentences(corpus_dir, split)`: read a corpus
  folder made by `jaroberta corpus build` (layout in `jaroberta.corpus.layout`).
- `build_corpus(BuildConfig(...))` (`jaroberta.corpus.build`): raw inputs, or the default
  corpus, to such a folder, with its report.
"""

from jaroberta.corpus.layout import SPLITS, iter_documents, iter_sentences, read_manifest

__all__ = ["SPLITS", "iter_documents", "iter_sentences", "read_manifest"]
