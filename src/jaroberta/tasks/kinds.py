"""The three fine-tuning task kinds: what differs between classification, pairs and NER.

A small registry (`KINDS`), one class per kind, one shared loop and one shared predictor:
- how examples are read and which labels they carry;
- how an example becomes a framed row of ids (the model's `InputConventions` frame it:
  rinna `[CLS]` + pieces, JMedRoBERTa `[CLS]` ... `[SEP]`, pairs with the separator between)
  and its training target;
- which transformers head it uses (`AutoModelForSequenceClassification` or
  `AutoModelForTokenClassification`), its summed loss, its predictions and its metrics.

Rows longer than the model allows are truncated and counted (pairs: the longer sentence
loses a piece at a time, as Hugging Face's `longest_first`). Segment (token type) ids are
never passed: neither seed was pretrained with next-sentence prediction, so segment 1 is
untrained; the separator token alone marks where the second sentence starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from jaroberta.errors import JarobertaError
from jaroberta.model.forward import length_buckets, progress
from jaroberta.model.loading import LoadedModel
from jaroberta.tasks import align, metrics
from jaroberta.tasks.data import (
    OUTSIDE,
    NerExample,
    PairExample,
    TextExample,
    read_classification,
    read_ner,
    read_pairs,
)

log = logging.getLogger(__name__)

IGNORE = -100
"""Target of positions without a label (special tokens, whitespace-only pieces)."""

OBJECTIVES = ("auto", "classification", "regression")

FINETUNE_META_KEY = "finetune"
"""Key of `jaroberta_meta.json` that tells `jaroberta predict` what the model does."""


@dataclass
class Row:
    """One encoded example: framed ids and its target."""

    ids: list[int]
    """Framed ids (special tokens included)."""
    target: int | float | list[int] | None
    """Class id, score, or one tag id per framed position (IGNORE where none); None when predicting."""
    pieces: int = 0
    """Text pieces before truncation."""
    truncated: bool = False
    """True when pieces were cut to fit the model."""
    offsets: list[tuple[int, int]] | None = None
    """NER: character span of each kept piece (to map predictions back to the text)."""
    prefix: int = 0
    """NER: framed index of the first piece (after the family's prefix tokens)."""


@dataclass
class EncodeStats:
    """What encoding changed, reported in the results (never hidden)."""

    rows: int = 0
    """Examples encoded."""
    truncated: int = 0
    """Rows cut to the model's length limit."""
    round_trip: align.RoundTrip = field(default_factory=align.RoundTrip)
    """NER: gold entities that survive gold -> pieces -> spans."""

    def to_dict(self) -> dict:
        out = {"rows": self.rows, "truncated": self.truncated}
        if self.round_trip.gold:
            rt = self.round_trip
            out["entities"] = {"gold": rt.gold, "exact_after_alignment": rt.exact, "lost_to_truncation": rt.truncated,
                               "alignment_ceiling": round(rt.ceiling, 4)}
        return out


def piece_budget(lm: "LoadedModel", max_length: int | None) -> int:
    """Text pieces that fit one framed input (the conventions' limit, or a shorter `max_length`)."""
    limit = lm.conventions.max_length if max_length is None else min(max_length, lm.conventions.max_length)
    budget = limit - len(lm.conventions.prefix) - len(lm.conventions.suffix)
    if budget < 2:
        raise JarobertaError(f"--max-length {limit} leaves no room for text between the special tokens")
    return budget


def _encode(lm: "LoadedModel", texts: list[str], sources: Sequence) -> list:
    encodings = lm.tokenizer.encode_batch(texts)
    for encoding, where in zip(encodings, sources):
        if not encoding.ids:
            raise JarobertaError(f"{where}: the text has no pieces after tokenization (only whitespace?); remove the example")
    return encodings


class SequenceKind:
    """Shared by classification and pairs: one label (or score) per example, from [CLS]."""

    auto_class = "AutoModelForSequenceClassification"

    def __init__(self, objective: str = "classification"):
        if objective not in ("classification", "regression"):
            raise JarobertaError(f"objective must be 'classification' or 'regression', got {objective!r}")
        self.objective = objective

    @property
    def regression(self) -> bool:
        return self.objective == "regression"

    # -- labels ---------------------------------------------------------------------------
    def labels_of(self, example) -> list[str]:
        return [] if self.regression else [example.label]

    def check_labels(self, examples: list) -> None:
        """Scores must be numbers and classes names: a mix means a wrong --objective or a broken line."""
        for example in examples:
            is_score = isinstance(example.label, float)
            if self.regression and not is_score:
                try:
                    example.label = float(example.label)
                except ValueError:
                    raise JarobertaError(f"{example.where}: label {example.label!r} is not a number, but the objective is regression") from None
            elif not self.regression and is_score:
                raise JarobertaError(
                    f"{example.where}: label {example.label!r} is a score, but the objective is classification; "
                    f"use --objective regression (JSTS-like data) or give class names"
                )

    def head_config(self, labels: list[str]) -> dict:
        if self.regression:
            return {"num_labels": 1, "problem_type": "regression"}
        return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                "label2id": {label: i for i, label in enumerate(labels)}, "problem_type": "single_label_classification"}

    def target(self, example, labels: list[str]):
        return float(example.label) if self.regression else labels.index(example.label)

    # -- training ---------------------------------------------------------------------------
    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed loss over the examples (the loop divides by the global count)."""
        if self.regression:
            loss = F.mse_loss(logits.float().squeeze(-1), targets.float(), reduction="sum")
        else:
            loss = F.cross_entropy(logits.float(), targets, reduction="sum")
        return loss, torch.tensor(float(len(targets)), device=logits.device)

    def targets_tensor(self, rows: list[Row], device) -> torch.Tensor:
        dtype = torch.float32 if self.regression else torch.long
        return torch.tensor([r.target for r in rows], dtype=dtype, device=device)

    # -- predictions and metrics ------------------------------------------------------------
    def decode(self, logits: torch.Tensor, labels: list[str], example=None, row: Row | None = None) -> dict:
        """A prediction from one example's logits (C,)."""
        if self.regression:
            return {"score": float(logits[0])}
        probs = torch.softmax(logits.float(), dim=-1)
        best = int(probs.argmax())
        return {"label": labels[best], "probability": float(probs[best]),
                "probabilities": {label: float(p) for label, p in zip(labels, probs)}}

    def score(self, examples: list, predictions: list[dict], labels: list[str]) -> dict[str, float]:
        if self.regression:
            gold = [float(e.label) for e in examples]
            predicted = [p["score"] for p in predictions]
            return {"pearson": metrics.pearson(gold, predicted), "spearman": metrics.spearman(gold, predicted)}
        gold = [e.label for e in examples]
        predicted = [p["label"] for p in predictions]
        return {"accuracy": metrics.accuracy(gold, predicted), "macro_f1": metrics.macro_f1(gold, predicted, labels)}

    @property
    def main_metric(self) -> str:
        return "pearson" if self.regression else "accuracy"

    @property
    def metric_names(self) -> tuple[str, ...]:
        return ("pearson", "spearman", "loss") if self.regression else ("accuracy", "macro_f1", "loss")


class ClassifyKind(SequenceKind):
    """Text classification (MARC-ja-like): [CLS] text -> label."""

    name = "classify"

    def read(self, path: Path, join: str = "") -> list[TextExample]:
        return read_classification(path)

    def encode(self, lm: "LoadedModel", examples: list[TextExample], labels: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        stats = EncodeStats(rows=len(examples))
        rows = []
        for example, encoding in zip(examples, _encode(lm, [e.text for e in examples], [e.where for e in examples])):
            pieces = encoding.ids[:budget]
            truncated = len(encoding.ids) > budget
            stats.truncated += truncated
            target = self.target(example, labels) if labels is not None else None
            rows.append(Row(lm.frame(pieces), target, len(encoding.ids), truncated))
        return rows, stats

    def example_from_input(self, value, where: str) -> TextExample:
        if not isinstance(value, str):
            raise JarobertaError(f"{where}: expected a text for a classification model")
        return TextExample(value, "", where)

    def describe_input(self, example: TextExample) -> dict:
        return {"text": example.text}


class PairKind(SequenceKind):
    """Sentence pairs (JNLI-like classes or JSTS-like scores): [CLS] a [SEP] b (+ the family's suffix)."""

    name = "pair"

    def read(self, path: Path, join: str = "") -> list[PairExample]:
        return read_pairs(path)

    def encode(self, lm: "LoadedModel", examples: list[PairExample], labels: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        stats = EncodeStats(rows=len(examples))
        sources = [e.where for e in examples]
        firsts = _encode(lm, [e.first for e in examples], sources)
        seconds = _encode(lm, [e.second for e in examples], sources)
        budget -= len(lm.conventions.pair_separator)
        rows = []
        for example, a, b in zip(examples, firsts, seconds):
            first, second = longest_first(a.ids, b.ids, budget)
            truncated = len(first) + len(second) < len(a.ids) + len(b.ids)
            stats.truncated += truncated
            framed = lm.conventions.frame_pair(first, second, lm.token_id)
            target = self.target(example, labels) if labels is not None else None
            rows.append(Row(framed, target, len(a.ids) + len(b.ids), truncated))
        return rows, stats

    def example_from_input(self, value, where: str) -> PairExample:
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise JarobertaError(f"{where}: expected two sentences for a sentence-pair model")
        return PairExample(value[0], value[1], "", where)

    def describe_input(self, example: PairExample) -> dict:
        return {"sentence1": example.first, "sentence2": example.second}


def longest_first(first: list[int], second: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Cut a piece at a time from the end of the longer sentence until both fit `budget`."""
    a, b = len(first), len(second)
    while a + b > budget:
        if a >= b:
            a -= 1
        else:
            b -= 1
    return first[:a], second[:b]


class NerKind:
    """Token classification with IOB2 tags on pieces; entities in and out as character spans."""

    name = "ner"
    auto_class = "AutoModelForTokenClassification"
    objective = "classification"
    regression = False
    main_metric = "entity_f1"
    metric_names = ("entity_f1", "entity_precision", "entity_recall", "loss")

    def read(self, path: Path, join: str = "") -> list[NerExample]:
        examples, stats = read_ner(path, join)
        if stats.trimmed_spans or stats.repaired_tags:
            log.warning("%s: %d entity span(s) trimmed of edge whitespace, %d I- tag(s) read as entity starts",
                        path, stats.trimmed_spans, stats.repaired_tags)
        return examples

    def labels_of(self, example: NerExample) -> list[str]:
        return [span.label for span in example.entities]

    def check_labels(self, examples: list) -> None:
        return None

    @staticmethod
    def tags(types: list[str]) -> list[str]:
        """The tag set of entity types: O, then B-/I- per type."""
        return [OUTSIDE] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]

    def head_config(self, types: list[str]) -> dict:
        tags = self.tags(types)
        return {"num_labels": len(tags), "id2label": dict(enumerate(tags)), "label2id": {t: i for i, t in enumerate(tags)}}

    def encode(self, lm: "LoadedModel", examples: list[NerExample], types: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        stats = EncodeStats(rows=len(examples))
        tag_ids = {t: i for i, t in enumerate(self.tags(types))} if types is not None else None
        prefix, suffix = len(lm.conventions.prefix), len(lm.conventions.suffix)
        rows = []
        for example, encoding in zip(examples, _encode(lm, [e.text for e in examples], [e.where for e in examples])):
            kept = min(len(encoding.ids), budget)
            truncated = kept < len(encoding.ids)
            stats.truncated += truncated
            target = None
            if tag_ids is not None:
                stats.round_trip.add(align.round_trip(example.text, encoding.offsets, example.entities, kept))
                tags = align.tags_for_pieces(example.text, encoding.offsets[:kept], example.entities)
                target = [IGNORE] * prefix + [IGNORE if t is None else tag_ids[t] for t in tags] + [IGNORE] * suffix
            rows.append(Row(lm.frame(encoding.ids[:kept]), target, len(encoding.ids), truncated, encoding.offsets[:kept], prefix))
        return rows, stats

    def targets_tensor(self, rows: list[Row], device) -> torch.Tensor:
        width = max(len(r.ids) for r in rows)
        out = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row.target)] = torch.tensor(row.target, dtype=torch.long)
        return out.to(device)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy summed over labelled pieces (B, T, C) vs (B, T)."""
        labelled = targets != IGNORE
        loss = F.cross_entropy(logits[labelled].float(), targets[labelled], reduction="sum")
        return loss, labelled.sum().float()

    def decode(self, logits: torch.Tensor, tags: list[str], example: NerExample, row: Row) -> dict:
        """Entities of one example from its logits (T, C) over the framed row."""
        piece_logits = logits[row.prefix : row.prefix + len(row.offsets)]  # (P, C): pieces only
        probs = torch.softmax(piece_logits.float(), dim=-1)
        best = probs.argmax(dim=-1).tolist()
        piece_tags = [tags[i] for i in best]
        spans = align.spans_from_tags(example.text, row.offsets, piece_tags)
        return {"entities": [{"start": s.start, "end": s.end, "label": s.label, "text": example.text[s.start : s.end]} for s in spans]}

    def score(self, examples: list[NerExample], predictions: list[dict], labels: list[str]) -> dict[str, float]:
        gold = [[s.as_tuple() for s in e.entities] for e in examples]
        predicted = [[(p["start"], p["end"], p["label"]) for p in pred["entities"]] for pred in predictions]
        scores = metrics.entity_scores(gold, predicted)
        out = {"entity_f1": scores["f1"], "entity_precision": scores["precision"], "entity_recall": scores["recall"],
               "entities_gold": scores["gold"], "entities_predicted": scores["predicted"], "entities_correct": scores["correct"]}
        out.update({f"entity_f1_{t}": s["f1"] for t, s in scores["per_type"].items()})
        return out

    def example_from_input(self, value, where: str) -> NerExample:
        if not isinstance(value, str):
            raise JarobertaError(f"{where}: expected a text for an NER model")
        return NerExample(value, [], where)

    def describe_input(self, example: NerExample) -> dict:
        return {"text": example.text}


def make_kind(name: str, objective: str = "classification"):
    """The kind registered as `name` ('classify', 'ner', 'pair')."""
    if name not in KINDS:
        raise JarobertaError(f"unknown fine-tuning task {name!r}; choose one of {sorted(KINDS)}")
    if name == "ner":
        if objective == "regression":
            raise JarobertaError("NER is a classification of pieces; --objective regression applies to pairs only")
        return NerKind()
    return KINDS[name](objective)


KINDS = {"classify": ClassifyKind, "pair": PairKind, "ner": NerKind}


def resolve_objective(requested: str, examples: list) -> str:
    """'auto': regression when every label is a score (a JSON float, or a CSV number with a decimal point)."""
    if requested not in OBJECTIVES:
        raise JarobertaError(f"--objective must be one of {OBJECTIVES}, got {requested!r}")
    if requested != "auto":
        return requested
    scores = [isinstance(e.label, float) for e in examples]
    if all(scores):
        return "regression"
    if any(scores):
        first = next(e for e, s in zip(examples, scores) if s)
        raise JarobertaError(
            f"{first.where}: label {first.label!r} is a score while other labels are class names; make the labels "
            f"consistent or pass --objective classification|regression"
        )
    return "classification"


def row_logits(model: torch.nn.Module, lm: "LoadedModel", rows: list[Row], batch_size: int, what: str = "evaluating") -> list[torch.Tensor]:
    """Logits of every row, in the rows' order: (C,) per example, or (T, C) per framed NER row.

    Rows are batched by length (little padding) and put back in order; `lm` frames
    nothing here, it pads and adds the conventions' position ids (rinna: from 0).
    """
    out: list[torch.Tensor | None] = [None] * len(rows)
    for batch in progress(length_buckets([len(r.ids) for r in rows], batch_size), what):
        logits = model(**lm.batch_inputs([rows[i].ids for i in batch])).logits.float()  # (B, C) or (B, T, C)
        for position, i in enumerate(batch):
            out[i] = logits[position] if logits.dim() == 2 else logits[position, : len(rows[i].ids)]
    return out
