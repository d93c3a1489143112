"""`jaroberta predict`: run a fine-tuned model (classification, sentence pairs, NER) on new text.

A fine-tuned folder is a Hugging Face folder (`AutoModelForSequenceClassification` /
`AutoModelForTokenClassification` load it as it is) plus jaroberta's tokenizer sidecar,
input conventions and `jaroberta_meta.json`, whose `finetune` entry says which task the
head solves. Predictions go through the same encoding and decoding as evaluation during
training (`train/finetune/kinds.py`): the text is framed by the conventions, NER tags on
pieces are mapped back to character spans of the *original* text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.model.integrity import LOAD_ERRORS, load_error
from jaroberta.model.loading import LoadedModel

log = logging.getLogger(__name__)


@dataclass
class FinetunedModel:
    """A fine-tuned model with what it predicts."""

    lm: LoadedModel
    """Model (with its task head), tokenizer and conventions."""
    kind: object
    """The task kind (`train.finetune.kinds`): how inputs are encoded and outputs decoded."""
    labels: list[str]
    """Classes, or NER entity types ([] for regression)."""


def load_finetuned(path: str | Path, *, user_dicts: list | None = None, device: str = "cpu") -> FinetunedModel:
    """Load a folder written by `jaroberta finetune` (or `FinetuneTask.save_model`)."""
    import torch
    import transformers

    from jaroberta.model.loading import check_model_files, check_model_folder, detect_conventions
    from jaroberta.model.saving import read_meta
    from jaroberta.text import load_tokenizer
    from jaroberta.train.finetune.kinds import make_kind
    from jaroberta.train.finetune.task import FINETUNE_META_KEY

    folder = check_model_folder(path)
    head = read_meta(folder).get(FINETUNE_META_KEY)
    if not head:
        raise JarobertaError(
            f"{folder} is not a fine-tuned model (its jaroberta_meta.json has no '{FINETUNE_META_KEY}' entry); "
            f"fine-tune one with `jaroberta finetune classify|ner|pair`, or use fill-mask / embed for a pretrained model"
        )
    kind = make_kind(head["task"], head.get("objective", "classification"))
    conventions = detect_conventions(folder)
    tokenizer = load_tokenizer(folder, user_dicts=user_dicts, normalization=conventions.normalization)
    auto = getattr(transformers, kind.auto_class)
    weights = check_model_files(folder)
    try:
        model = auto.from_pretrained(folder, dtype=torch.float32).to(device).eval()
    except LOAD_ERRORS as exc:
        raise load_error(weights, exc) from exc
    return FinetunedModel(LoadedModel(model=model, tokenizer=tokenizer, conventions=conventions, path=folder), kind, list(head["labels"]))


def predict(model: FinetunedModel, inputs: list, *, batch_size: int = 32, truncate: bool = False, where: str = "input") -> list[dict]:
    """One prediction per input: a text (classification, NER) or a (sentence1, sentence2) pair.

    Classification: {"label", "probability", "probabilities"}; regression: {"score"};
    NER: {"entities": [{"start", "end", "label", "text"}]} with character offsets into the input.
    Inputs longer than the model allows are an error unless `truncate` (then counted in the log).
    """
    import torch

    from jaroberta.train.finetune.kinds import piece_budget, row_logits

    kind, lm = model.kind, model.lm
    examples = [kind.example_from_input(value, f"{where} {i + 1}") for i, value in enumerate(inputs)]
    if not examples:
        return []
    rows, stats = kind.encode(lm, examples, None, piece_budget(lm, None))
    if stats.truncated:
        first = next(e for e, r in zip(examples, rows) if r.truncated)
        if not truncate:
            raise JarobertaError(
                f"{first.where}: longer than the model's {lm.conventions.max_length} tokens ({stats.truncated} input(s)); "
                f"shorten the text or pass --truncate (NER then finds no entities beyond the cut)"
            )
        log.warning("%d of %d input(s) truncated to the model's %d tokens", stats.truncated, len(rows), lm.conventions.max_length)
    names = [] if kind.regression else [lm.model.config.id2label[i] for i in range(lm.model.config.num_labels)]
    with torch.inference_mode():
        logits = row_logits(lm.model, lm, rows, batch_size, what="predicting")
    return [{**kind.describe_input(e), **kind.decode(l, names, e, r)} for e, r, l in zip(examples, rows, logits)]
