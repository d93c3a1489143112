"""jaroberta: build and use Japanese RoBERTa-style masked language models.

The verbs, each the function its `jaroberta` command calls, with the same option names:

    model = jaroberta.load("MODEL")              # fill-mask, score, embed, eval
    model.fill_mask("東京は日本の[MASK]である。")   # also .score(), .embed(), .tokenize()
    jaroberta.build_corpus(inputs, out)           # corpus build
    jaroberta.train_tokenizer(corpus, out)        # tokenizer train
    jaroberta.extend_tokenizer(base, corpus, out, add=N)  # tokenizer extend
    jaroberta.build_dictionary(terms, out)        # dict build
    jaroberta.pack(corpus, tokenizer, out)        # pack
    jaroberta.pretrain(shards, out, steps=...)    # pretrain
    jaroberta.adapt(base, domain_text, out)       # adapt: extend the vocabulary, continue pretraining, measure
    jaroberta.finetune("ner", model, out, train=...)  # finetune
    jaroberta.predict(model, texts)               # predict
    jaroberta.eval_jglue(model, out, data=JGLUE)  # eval jglue
    jaroberta.serve(model)                        # serve
    jaroberta.export(model, out)                  # export: a folder plain transformers gets right

Results are dataclasses with `to_dict()`. The verbs live in `jaroberta.api`; they are
imported on first use, so `import jaroberta` stays light (no torch until a verb is used).
"""

import importlib
import sys
import types

__version__ = "0.1.0"

__all__ = [
    "__version__", "load", "Model", "build_corpus", "train_tokenizer", "extend_tokenizer", "build_dictionary", "pack", "pretrain",
    "finetune", "predict", "eval_jglue", "serve", "export", "fill_mask", "score", "embed", "tokenize", "adapt",
]
_ABOVE_API = {"adapt": "jaroberta.adapt"}
"""Verbs that compose the api's verbs, in the module of the same name (a layer above `jaroberta.api`)."""


class _Package(types.ModuleType):
    """This package, whose attributes named like verbs stay the verbs.

    Importing a subpackage binds it as an attribute of its parent, and `jaroberta.finetune` and
    `jaroberta.adapt` are both a verb and a module: the binding is skipped for such names, so the
    name reaches the verb (`__getattr__`) and the subpackage stays importable by its full name
    (`from jaroberta.finetune.run import ...`; `import jaroberta.finetune.run as run` cannot work).
    """

    def __setattr__(self, name: str, value) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module(_ABOVE_API.get(name, "jaroberta.api")), name)
    raise AttributeError(f"module 'jaroberta' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
