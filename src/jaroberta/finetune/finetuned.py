"""Loading a folder written by `jaroberta finetune`: `load_finetuned(path)` -> model, kind and labels.

What `jaroberta predict` runs, and what a fine-tuning run scores its saved model with, loaded as
users will load it. `read_head` reads what the folder predicts (the meta's `finetune` entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import transformers

from jaroberta.errors import JarobertaError
from jaroberta.finetune.kinds import kind_of_head
from jaroberta.finetune.kinds.base import FINETUNE_META_KEY, TaskKind
from jaroberta.model.integrity import LOAD_ERRORS, load_error
from jaroberta.model.loading import (
    LoadedModel,
    check_model_files,
    check_model_folder,
    detect_conventions,
    quantize_int8,
    resolve_conventions,
)
from jaroberta.model.saving import read_meta
from jaroberta.text import load_tokenizer


@dataclass
class FinetunedModel:
    """A fine-tuned model with what it predicts."""

    lm: LoadedModel
    """Model (with its task head), tokenizer and conventions."""
    kind: TaskKind
    """The task kind (`finetune.kinds`): how inputs are encoded and outputs decoded."""
    labels: list[str]
    """Classes, or NER entity types ([] for regression)."""


def read_head(path: str | Path) -> dict:
    """What a folder written by `jaroberta finetune` predicts: its task, objective and labels."""
    folder = check_model_folder(path)
    head = read_meta(folder).get(FINETUNE_META_KEY)
    if not head:
        raise JarobertaError(
            f"{folder} is not a fine-tuned model (its jaroberta_meta.json has no '{FINETUNE_META_KEY}' entry); "
            f"fine-tune one with `jaroberta finetune classify|ner|pair`, or use fill-mask / embed for a pretrained model"
        )
    return head


def load_finetuned(path: str | Path, *, user_dicts: list | None = None, device: str = "cpu",
                   conventions: dict[str, str] | None = None, quantize: str | None = None) -> FinetunedModel:
    """Load a folder written by `jaroberta finetune` (or `FinetuneTask.save_model`); `conventions`:
    key=value overrides of the stored ones, `quantize='int8'`: dynamic int8 linear layers (CPU)."""
    folder = check_model_folder(path)
    head = read_head(folder)
    kind = kind_of_head(head)
    conventions = resolve_conventions(folder, conventions) if conventions else detect_conventions(folder)
    tokenizer = load_tokenizer(folder, user_dicts=user_dicts, normalization=conventions.normalization)
    auto = getattr(transformers, kind.auto_class)
    weights = check_model_files(folder)
    try:
        model = auto.from_pretrained(folder, dtype=torch.float32).to(device).eval()
    except LOAD_ERRORS as exc:
        raise load_error(weights, exc) from exc
    if quantize == "int8":
        model = quantize_int8(model)
    return FinetunedModel(LoadedModel(model=model, tokenizer=tokenizer, conventions=conventions, path=folder), kind, list(head["labels"]))
