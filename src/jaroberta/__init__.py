"""jaroberta: build and use Japanese RoBERTa-style masked language models."""

__version__ = "0.1.0"


def load(path, **overrides):
    """Load a model folder or hub id (ours, rinna's or JMedRoBERTa's layout; `revision=` pins a hub
    commit) with its tokenizer and conventions."""
    from jaroberta.model.loading import load as _load

    return _load(path, **overrides)


__all__ = ["__version__", "load"]
