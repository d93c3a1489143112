"""`jaroberta predict`: run a fine-tuned model (classification, sentence pairs, NER) on new text.

A fine-tuned folder is a Hugging Face folder (`AutoModelForSequenceClassification` /
`AutoModelForTokenClassification` load it as it is) plus jaroberta's tokenizer sidecar,
input conventions and `jaroberta_meta.json`, whose `finetune` entry says which task the
head solves. Predictions go through the same encoding and decoding as evaluation during
training (`tasks/kinds.py`): the text is framed by the conventions, NER tags on
pieces are mapped back to character spans of the *original* text.
"""

from __future__ import annotations

import logging

import torch

from jaroberta.errors import JarobertaError
from jaroberta.tasks.finetuned import FinetunedModel
from jaroberta.tasks.kinds import piece_budget, row_logits

log = logging.getLogger(__name__)


def predict(model: FinetunedModel, inputs: list, *, batch_size: int = 32, truncate: bool = False, where: str = "input") -> list[dict]:
    """One prediction per input: a text (classification, NER) or a (sentence1, sentence2) pair.

    Classification: {"label", "probability", "probabilities"}; regression: {"score"};
    NER: {"entities": [{"start", "end", "label", "text"}]} with character offsets into the input.
    Inputs longer than the model allows are an error unless `truncate` (then counted in the log).
    """
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
