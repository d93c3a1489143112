"""jaroberta: build and use Japanese RoBERTa-style masked language models.

The verbs, each the function its `jaroberta` command calls, with the same option names:

    model = jaroberta.load("MODEL")              # fill-mask, score, embed, eval
    model.fill_mask("東京は日本の[MASK]である。")   # also .score(), .embed(), .tokenize()
    jaroberta.build_corpus(inputs, out)           # corpus build
    jaroberta.train_tokenizer(corpus, out)        # tokenizer train
    jaroberta.build_dictionary(terms, out)        # dict build
    jaroberta.pack(corpus, tokenizer, out)        # pack
    jaroberta.pretrain(shards, out, steps=...)    # pretrain
    jaroberta.finetune("ner", model, out, train=...)  # finetune
    jaroberta.predict(model, texts)               # predict
    jaroberta.serve(model)                        # serve
    jaroberta.export(model, out)                  # export: a folder plain transformers gets right

Results are dataclasses with `to_dict()`. The verbs live in `jaroberta.api`; they are
imported on first use, so `import jaroberta` stays light (no torch until a verb is used).
"""

import importlib

__version__ = "0.1.0"

__all__ = [
    "__version__", "load", "Model", "build_corpus", "train_tokenizer", "build_dictionary", "pack", "pretrain",
    "finetune", "predict", "serve", "export", "fill_mask", "score", "embed", "tokenize",
]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("jaroberta.api"), name)
    raise AttributeError(f"module 'jaroberta' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
