"""`predict(model, inputs)`: a fine-tuned model (`load_finetuned`) on new inputs, one prediction each.

A fine-tuned folder is a Hugging Face folder (its kind's `AutoModelFor...` class loads it as it is)
plus jaroberta's tokenizer sidecar, input conventions and `jaroberta_meta.json`, whose `finetune`
entry names the kind. Predictions go through the kind's encoding and decoding, the same as
evaluation during training: NER spans come back as character offsets of the *original* text.
`read_inputs` turns lines or JSON lines into the inputs the model's kind expects.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from jaroberta.errors import JarobertaError
from jaroberta.finetune.data import read_jsonl_inputs
from jaroberta.finetune.finetuned import FinetunedModel
from jaroberta.finetune.kinds.base import TaskKind, decode_all, forward_rows, head_names, piece_budget

log = logging.getLogger(__name__)


def predict(model: FinetunedModel, inputs: list, *, batch_size: int = 32, truncate: bool = False, where: str = "input") -> list[dict]:
    """One prediction per input: a text (classification, NER), a (sentence1, sentence2) pair,
    {"question", "context"} (QA) or {"question", "choices"} (multiple choice).

    Classification: {"label", "probability", "probabilities"}; regression: {"score"};
    NER: {"entities": [{"start", "end", "label", "text"}]} with character offsets into the input;
    QA: {"answer", "start", "end", "score"}, the answer being `context[start:end]`;
    multiple choice: {"choice", "probability", "probabilities"}.
    Inputs longer than the model allows are an error unless `truncate` (then counted in the log).
    """
    kind, lm = model.kind, model.lm
    examples = [kind.example_from_input(value, f"{where} {i + 1}") for i, value in enumerate(inputs)]
    if not examples:
        return []
    rows, stats = kind.encode(lm, examples, None, piece_budget(lm, kind.max_length))
    if stats.truncated:
        first = examples[next(r.example for r in rows if r.truncated)]
        if not truncate:
            raise JarobertaError(
                f"{first.where}: longer than the model's {lm.conventions.max_length} tokens ({stats.truncated} input(s)); "
                f"shorten the text or pass --truncate (NER then finds no entities beyond the cut)"
            )
        log.warning("%d of %d input(s) truncated to the model's %d tokens", stats.truncated, len(examples), lm.conventions.max_length)
    with torch.inference_mode():
        forward = forward_rows(kind, lm.model, lm, rows, batch_size, what="predicting")
    predictions = decode_all(kind, examples, rows, forward.outputs, head_names(lm.model))
    return [{**kind.describe_input(e), **p} for e, p in zip(examples, predictions)]


def read_inputs(kind: TaskKind, lines: list[str], jsonl: str | Path | None = None) -> list:
    """Inputs for `predict`: the records of a JSON-lines file, then one per line of text (pairs: 'a<TAB>b')."""
    inputs = read_jsonl_inputs(jsonl, kind.input_from_record) if jsonl is not None else []
    return inputs + [kind.input_from_line(line, f"input {number}") for number, line in enumerate(lines, start=1)]
