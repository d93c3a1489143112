"""jaroberta: build and use Japanese RoBERTa-style masked language models."""

__version__ = "0.1.0"

from jaroberta.model.loading import load  # noqa: E402  (after __version__, which the layers below read)

__all__ = ["__version__", "load"]
