"""Sentence embeddings from the encoder's last layer: mean-pooled or the first token.

Works with a model loaded with either head ('base' skips the MLM head's weights).
Mean pooling averages every real token of the framed input (special tokens included,
padding excluded), as sentence-transformers does; 'cls' takes the first framed token
(`[CLS]` for both families).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from jaroberta.core.outputs import check_output_file
from jaroberta.errors import JarobertaError
from jaroberta.model.forward import hidden_states
from jaroberta.model.loading import LoadedModel

POOLINGS = ("mean", "cls")


def embed(
    lm: LoadedModel,
    texts: list[str],
    *,
    pooling: str = "mean",
    batch_size: int = 64,
    normalize: bool = False,
    truncate: bool = False,
) -> np.ndarray:
    """One float32 vector per text, shape (len(texts), hidden); L2-normalized when asked."""
    if pooling not in POOLINGS:
        raise JarobertaError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if isinstance(texts, str):
        texts = [texts]
    framed = []
    for i, text in enumerate(texts):
        where = f"text {i + 1}" if len(texts) > 1 else "text"
        framed.append(lm.frame(lm.fit(lm.tokenizer.encode(text).ids, truncate=truncate, where=where)))
    out = np.zeros((len(texts), lm.model.config.hidden_size), dtype=np.float32)
    for indices, hidden, attention in hidden_states(lm, framed, batch_size=batch_size, what="embedding"):
        pooled = _pool(hidden, attention, pooling)  # (B, H)
        if normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        out[indices] = pooled.cpu().numpy()
    return out


def _pool(hidden: torch.Tensor, attention: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        return hidden[:, 0]  # (B, T, H) -> (B, H)
    weights = attention.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def save_embeddings(vectors: np.ndarray, path: str | Path) -> Path:
    """Write a .npy file (the folder must exist); returns the path written."""
    path = check_output_file(path, ".npy")
    np.save(path, vectors)
    return path
