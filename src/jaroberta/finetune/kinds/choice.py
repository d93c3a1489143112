"""Multiple choice (JCommonsenseQA-like): a question and its choices -> the index of the right one. The `choice` kind.

Each choice is framed with the question as a pair in the family's framing
(`[CLS] question [SEP] choice` + the family's suffix); an example is one row holding all
its choices, batched as (B, choices, T) for `AutoModelForMultipleChoice`
(`RobertaForMultipleChoice`, `BertForMultipleChoice`), which scores each choice with one
logit. The number of choices comes from the file (`choice0`...`choiceN`); a batch mixing
counts pads the short rows with copies of their first choice, masked out of the softmax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from jaroberta.errors import JarobertaError
from jaroberta.finetune.data import ChoiceExample, parse_choice, read_choices
from jaroberta.finetune.jglue_metrics import accuracy
from jaroberta.finetune.kinds.base import EncodeStats, PieceKind, Row, encode_texts
from jaroberta.finetune.kinds.pair import longest_first
from jaroberta.model.loading import LoadedModel


@dataclass
class ChoicesRow(Row):
    """A row holding one framed sequence per choice (`ids` is unused)."""

    sequences: list[list[int]] = field(default_factory=list)
    """Framed question + choice ids, one list per choice."""

    @property
    def length(self) -> int:
        return len(self.sequences) * max(len(s) for s in self.sequences)


class ChoiceKind(PieceKind):
    """A question with several choices, one right."""

    name = "choice"
    auto_class = "AutoModelForMultipleChoice"
    summary = "fine-tune multiple choice: question, choice0..choiceN, label (JGLUE JCommonsenseQA as it is)"
    data_help = ("DATA: JSON lines or CSV/TSV with 'question', 'choice0', 'choice1', ... (as many as the file has) and "
                 "'label', the index of the right choice.")
    options = ()
    objective = "classification"
    main_metric = "accuracy"
    metric_names = ("accuracy", "loss")

    @classmethod
    def for_training(cls, objective: str, train: list, **settings) -> "ChoiceKind":
        if objective == "regression":
            raise JarobertaError("multiple choice picks a choice; --objective regression applies to pairs only")
        return cls()

    @classmethod
    def from_head(cls, head: dict) -> "ChoiceKind":
        return cls()

    def head(self, labels: list[str]) -> dict:
        return {"task": self.name, "objective": self.objective, "labels": labels, "auto_class": self.auto_class}

    @classmethod
    def read(cls, path: Path, join: str = "") -> list[ChoiceExample]:
        return read_choices(path)

    def labels(self, train: list, dev: list, test: list, declared, train_name, dev_name) -> list[str]:
        if declared:
            raise JarobertaError("--labels does not apply to multiple choice: the label is a choice's index")
        return []

    def head_config(self, labels: list[str]) -> dict:
        return {}  # the head scores each choice with one logit whatever num_labels says

    def encode(self, lm: LoadedModel, examples: list[ChoiceExample], labels: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        stats = EncodeStats(rows=len(examples))
        questions = encode_texts(lm, [e.question for e in examples], [e.where for e in examples])
        flat = [(i, c) for i, e in enumerate(examples) for c in e.choices]
        choices = encode_texts(lm, [c for _, c in flat], [examples[i].where for i, _ in flat])
        budget -= len(lm.conventions.pair_separator)
        rows, at = [], 0
        for index, (example, question) in enumerate(zip(examples, questions)):
            sequences, truncated, pieces = [], False, 0
            for choice in choices[at : at + len(example.choices)]:
                first, second = longest_first(question.ids, choice.ids, budget)
                truncated |= len(first) + len(second) < len(question.ids) + len(choice.ids)
                pieces = max(pieces, len(question.ids) + len(choice.ids))
                sequences.append(lm.conventions.frame_pair(first, second, lm.token_id))
            at += len(example.choices)
            stats.truncated += truncated
            target = example.label if labels is not None else None
            rows.append(ChoicesRow([], target, pieces, truncated, example=index, sequences=sequences))
        return rows, stats

    def batch_inputs(self, lm: LoadedModel, rows: list[Row]) -> dict:
        width = max(len(row.sequences) for row in rows)
        # Rows with fewer choices repeat their first one; `_mask` keeps the copies out of the softmax.
        framed = [s for row in rows for s in row.sequences + [row.sequences[0]] * (width - len(row.sequences))]
        batch = lm.batch_inputs(framed)  # (B * C, T) each
        return {name: t.view(len(rows), width, -1) for name, t in batch.items()}  # (B, C, T)

    @staticmethod
    def _mask(logits: torch.Tensor, rows: list[Row]) -> torch.Tensor:
        counts = torch.tensor([len(row.sequences) for row in rows], device=logits.device)
        padded = torch.arange(logits.shape[1], device=logits.device)[None, :] >= counts[:, None]  # (B, C)
        return logits.float().masked_fill(padded, float("-inf"))

    def loss(self, output, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self._mask(output.logits, rows)  # (B, C)
        targets = torch.tensor([row.target for row in rows], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits, targets, reduction="sum"), torch.tensor(float(len(rows)), device=logits.device)

    def row_outputs(self, output, rows: list[Row]) -> list[torch.Tensor]:
        logits = output.logits.float()
        return [logits[i, : len(row.sequences)] for i, row in enumerate(rows)]  # (C,) per row

    def decode(self, example: ChoiceExample, rows: list[Row], outputs: list[torch.Tensor], names: list[str]) -> dict:
        (logits,) = outputs
        probs = torch.softmax(logits, dim=-1)
        best = int(probs.argmax())
        return {"choice": best, "probability": float(probs[best]), "probabilities": [float(p) for p in probs]}

    def score(self, examples: list[ChoiceExample], predictions: list[dict], labels: list[str]) -> dict[str, float]:
        return {"accuracy": accuracy([e.label for e in examples], [p["choice"] for p in predictions])}

    def example_from_input(self, value, where: str) -> ChoiceExample:
        if isinstance(value, dict) and isinstance(value.get("choices"), (list, tuple)):
            value = {"question": value.get("question"), **{f"choice{i}": c for i, c in enumerate(value["choices"])}}
        if not isinstance(value, dict):
            raise JarobertaError(f"{where}: a multiple-choice model takes {{'question': ..., 'choices': [...]}}")
        return parse_choice(value, where, labelled=False)

    def input_from_line(self, line: str, where: str) -> dict:
        question, *choices = line.split("\t")
        if len(choices) < 2:
            raise JarobertaError(f"{where}: a multiple-choice model needs 'question<TAB>choice0<TAB>choice1...', got {line[:60]!r}")
        return {"question": question, "choices": choices}

    def input_from_record(self, record: dict, where) -> dict:
        example = parse_choice(record, where, labelled=False)
        return {"question": example.question, "choices": list(example.choices)}

    def describe_input(self, example: ChoiceExample) -> dict:
        return {"question": example.question, "choices": list(example.choices)}
