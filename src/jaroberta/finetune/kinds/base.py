"""The `TaskKind` protocol every fine-tuning kind implements, the encoded `Row`, and the shared forward pass.

Start at `TaskKind`: the one statement of what differs between kinds. The run (`finetune/run.py`),
the loop's task (`finetune/task.py`), evaluation and `predict` only call these methods, so a new
kind is one module under `finetune/kinds/` plus its line in the registry (`kinds/__init__.py`).

An example may become several rows (extractive QA: overlapping windows with a stride) and a
row may hold several sequences (multiple choice: one per choice, `batch_inputs` shapes them
(B, choices, T)); every row names its example (`Row.example`), and `decode` sees all rows of
one example with their outputs, so n-best spans over windows or the best choice are chosen there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch

from jaroberta.errors import JarobertaError
from jaroberta.finetune import align
from jaroberta.model.forward import length_buckets, progress
from jaroberta.model.loading import LoadedModel

IGNORE = -100
"""Target of positions without a label (special tokens, whitespace-only pieces)."""

OBJECTIVES = ("auto", "classification", "regression")

FINETUNE_META_KEY = "finetune"
"""Key of `jaroberta_meta.json` that tells `jaroberta predict` what the model does."""


@dataclass
class Row:
    """One encoded input of the model: framed ids, its target and the example it came from."""

    ids: list[int]
    """Framed ids (special tokens included)."""
    target: Any
    """What the loss compares with (class id, score, one tag id per framed position...); None when predicting."""
    pieces: int = 0
    """Text pieces before truncation."""
    truncated: bool = False
    """True when pieces were cut to fit the model."""
    offsets: list[tuple[int, int]] | None = None
    """Character span of each kept piece, for kinds that map predictions back to the text."""
    prefix: int = 0
    """Framed index of the first piece (after the family's prefix tokens)."""
    example: int = 0
    """Index of the example in the list given to `encode` (several rows may share one)."""

    @property
    def length(self) -> int:
        """Tokens of one forward pass of this row (batching by length, memory estimates)."""
        return len(self.ids)


@dataclass
class EncodeStats:
    """What encoding changed, reported in the results (never hidden)."""

    rows: int = 0
    """Examples encoded."""
    truncated: int = 0
    """Rows cut to the model's length limit."""
    round_trip: align.RoundTrip = field(default_factory=align.RoundTrip)
    """NER: gold entities that survive gold -> pieces -> spans."""
    extra: dict = field(default_factory=dict)
    """What a kind adds to the report (QA: windows, answers corrected or not found, the boundary ceiling)."""

    def to_dict(self) -> dict:
        out = {"rows": self.rows, "truncated": self.truncated, **self.extra}
        if self.round_trip.gold:
            rt = self.round_trip
            out["entities"] = {"gold": rt.gold, "exact_after_alignment": rt.exact, "lost_to_truncation": rt.truncated,
                               "alignment_ceiling": round(rt.ceiling, 4)}
        return out


@runtime_checkable
class TaskKind(Protocol):
    """What a fine-tuning kind decides; everything else (loop, batching, saving, results) is shared."""

    name: ClassVar[str]
    """Registry key: `jaroberta finetune NAME`, and the `task` written into the model's meta."""
    auto_class: ClassVar[str]
    """The transformers head class (`AutoModelForSequenceClassification`, ...) that loads the folder."""
    summary: ClassVar[str]
    """One line for the command's help."""
    data_help: ClassVar[str]
    """The data formats it reads, for the command's help."""
    options: ClassVar[tuple[str, ...]]
    """`FinetuneConfig` fields only this kind uses (their flags appear on its command only)."""
    settings: ClassVar[tuple[str, ...]]
    """`FinetuneConfig` fields `for_training` takes as keywords and the head keeps (QA: stride, max_answer_length)."""
    max_length: int | None
    """Longest framed input when the run does not say (QA: 384, JGLUE's); None: the model's limit."""
    objective: str
    """'classification' or 'regression'."""
    main_metric: str
    """Dev metric that picks the best model unless `--metric` says otherwise."""
    metric_names: tuple[str, ...]
    """Dev metrics `--metric` may name."""

    # -- configuring ------------------------------------------------------------------------
    @classmethod
    def for_training(cls, objective: str, train: list, **settings) -> "TaskKind":
        """The kind for a run: `objective` as requested ('auto' decided from the training examples),
        `settings` the config's values of the kind's `settings` fields."""

    @classmethod
    def from_head(cls, head: dict) -> "TaskKind":
        """The kind of a saved model, from its meta's `finetune` entry (`head`)."""

    def head(self, labels: list[str]) -> dict:
        """The meta's `finetune` entry: task, objective, labels, auto_class."""

    # -- data -------------------------------------------------------------------------------
    @classmethod
    def read(cls, path: Path, join: str = "") -> list:
        """Examples of a data file; errors name file and line."""

    def labels(self, train: list, dev: list, test: list, declared: list[str] | None, train_name, dev_name) -> list[str]:
        """Checked label set of the run (classes, entity types; [] for regression)."""

    def head_config(self, labels: list[str]) -> dict:
        """Model-config fields of the head (num_labels, id2label, problem_type...)."""

    def encode(self, lm: LoadedModel, examples: list, labels: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        """Rows in the family's framing (`lm.conventions`); targets only when `labels` is not None."""

    # -- the model --------------------------------------------------------------------------
    def batch_inputs(self, lm: LoadedModel, rows: list[Row]) -> dict:
        """The model's keyword arguments for a batch of rows."""

    def loss(self, output, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed loss, how many terms) of a batch's model output; the loop divides by the global count."""

    def row_outputs(self, output, rows: list[Row]) -> list:
        """One output per row (its logits, unpadded) from a batch's model output."""

    # -- predictions ------------------------------------------------------------------------
    def decode(self, example, rows: list[Row], outputs: list, names: list[str]) -> dict:
        """The prediction for one example from its rows' outputs; `names`: the head's output labels."""

    def score(self, examples: list, predictions: list[dict], labels: list[str]) -> dict[str, float]:
        """Metrics of predictions against the examples' gold labels."""

    def example_from_input(self, value, where: str):
        """An unlabelled example from one `predict` input (a text, a pair...)."""

    def input_from_line(self, line: str, where: str):
        """A `predict` input from one line of text."""

    def input_from_record(self, record: dict, where) -> Any:
        """A `predict` input from one JSON-lines record (labels ignored)."""

    def describe_input(self, example) -> dict:
        """The input as the prediction repeats it ({"text": ...})."""


class PieceKind:
    """Defaults shared by the kinds that frame one sequence (or a pair) per row."""

    settings: tuple[str, ...] = ()
    max_length: int | None = None

    def batch_inputs(self, lm: LoadedModel, rows: list[Row]) -> dict:
        return lm.batch_inputs([row.ids for row in rows])

    def input_from_line(self, line: str, where: str):
        return line


def piece_budget(lm: LoadedModel, max_length: int | None) -> int:
    """Text pieces that fit one framed input (the conventions' limit, or a shorter `max_length`)."""
    limit = lm.conventions.max_length if max_length is None else min(max_length, lm.conventions.max_length)
    budget = limit - len(lm.conventions.prefix) - len(lm.conventions.suffix)
    if budget < 2:
        raise JarobertaError(f"max_length {limit} leaves no room for text between the special tokens")
    return budget


def encode_texts(lm: LoadedModel, texts: list[str], sources: Sequence) -> list:
    """Tokenizer encodings of texts; a text without pieces is an error naming its source."""
    encodings = lm.tokenizer.encode_batch(texts)
    for encoding, where in zip(encodings, sources):
        if not encoding.ids:
            raise JarobertaError(f"{where}: the text has no pieces after tokenization (only whitespace?); remove the example")
    return encodings


@dataclass
class Forward:
    """Outputs of every row, in the rows' order, and the summed loss where rows have targets."""

    outputs: list
    """`kind.row_outputs` of each row."""
    loss_sum: float = 0.0
    """Summed loss (0 when the rows carry no targets)."""
    count: float = 0.0
    """Terms of the summed loss."""

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.count, 1.0)


def forward_rows(kind: TaskKind, model: torch.nn.Module, lm: LoadedModel, rows: list[Row], batch_size: int,
                 what: str = "evaluating") -> Forward:
    """Run the model over rows batched by length (little padding), outputs put back in order."""
    result = Forward([None] * len(rows))
    with_targets = bool(rows) and rows[0].target is not None
    for batch in progress(length_buckets([row.length for row in rows], batch_size), what):
        chosen = [rows[i] for i in batch]
        output = model(**kind.batch_inputs(lm, chosen))
        if with_targets:
            loss, count = kind.loss(output, chosen)
            result.loss_sum += float(loss)
            result.count += float(count)
        for i, value in zip(batch, kind.row_outputs(output, chosen)):
            result.outputs[i] = value
    return result


def decode_all(kind: TaskKind, examples: list, rows: list[Row], outputs: list, names: list[str]) -> list[dict]:
    """One prediction per example from the outputs of its rows."""
    grouped: list[tuple[list, list]] = [([], []) for _ in examples]
    for row, output in zip(rows, outputs):
        grouped[row.example][0].append(row)
        grouped[row.example][1].append(output)
    return [kind.decode(example, own_rows, own_outputs, names) for example, (own_rows, own_outputs) in zip(examples, grouped)]


def head_names(model: torch.nn.Module) -> list[str]:
    """What the head's outputs are called (classes, or O / B-X / I-X tags), from the model config."""
    config = model.config
    return [config.id2label[i] for i in range(config.num_labels)]
