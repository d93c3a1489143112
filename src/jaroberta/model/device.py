"""`--device auto`: one answer for every command."""

from __future__ import annotations

import torch

from jaroberta.errors import JarobertaError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto", local_rank: int = 0) -> str:
    """'auto' = cuda when available, else cpu; 'cuda' = the GPU of this process (torchrun's
    LOCAL_RANK); anything torch understands ('cuda:1', 'mps') passes through."""
    name = str(name)
    if name == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise JarobertaError("device cuda: no CUDA device is available here; use cpu or auto")
        return f"cuda:{local_rank}"
    try:
        torch.device(name)
    except RuntimeError as exc:
        raise JarobertaError(f"device {name!r} is not a device: use auto, cpu or cuda") from exc
    return name
