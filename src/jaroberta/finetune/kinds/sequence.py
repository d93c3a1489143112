"""What classification and sentence pairs share: one label (or score) per example, read from [CLS].

`SequenceKind` implements the `TaskKind` protocol (`kinds/base.py`) except reading and encoding,
which `classify.py` and `pair.py` add. The head is `AutoModelForSequenceClassification`
(`RobertaForSequenceClassification`, `BertForSequenceClassification`): cross-entropy over
classes, or mean squared error on one score with the regression objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jaroberta.errors import JarobertaError
from jaroberta.finetune import data, metrics
from jaroberta.finetune.kinds.base import OBJECTIVES, PieceKind, Row


class SequenceKind(PieceKind):
    """One label or score per example."""

    auto_class = "AutoModelForSequenceClassification"
    objectives = ("classification", "regression")
    """Objectives this kind accepts."""

    def __init__(self, objective: str = "classification"):
        if objective not in self.objectives:
            raise JarobertaError(f"{self.name}: objective must be one of {self.objectives}, got {objective!r}")
        self.objective = objective

    @property
    def regression(self) -> bool:
        return self.objective == "regression"

    # -- configuring ----------------------------------------------------------------------
    @classmethod
    def for_training(cls, objective: str, train: list) -> "SequenceKind":
        return cls(resolve_objective(objective, train) if "regression" in cls.objectives else _classes_only(cls.name, objective))

    @classmethod
    def from_head(cls, head: dict) -> "SequenceKind":
        return cls(head.get("objective", "classification"))

    def head(self, labels: list[str]) -> dict:
        return {"task": self.name, "objective": self.objective, "labels": labels, "auto_class": self.auto_class}

    # -- labels ---------------------------------------------------------------------------
    def labels(self, train: list, dev: list, test: list, declared, train_name, dev_name) -> list[str]:
        for split in (train, dev, test):
            self._check_labels(split)
        if self.regression:
            return []
        labels = data.label_set(train, dev, lambda e: [e.label], train_name, dev_name, declared)
        if len(labels) < 2:
            raise JarobertaError(f"{train_name}: only one class ({labels}); classification needs at least two")
        return labels

    def _check_labels(self, examples: list) -> None:
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

    # -- the model ------------------------------------------------------------------------
    def loss(self, output, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = output.logits  # (B, C)
        targets = torch.tensor([r.target for r in rows], dtype=torch.float32 if self.regression else torch.long, device=logits.device)
        if self.regression:
            loss = F.mse_loss(logits.float().squeeze(-1), targets, reduction="sum")
        else:
            loss = F.cross_entropy(logits.float(), targets, reduction="sum")
        return loss, torch.tensor(float(len(rows)), device=logits.device)

    def row_outputs(self, output, rows: list[Row]) -> list[torch.Tensor]:
        return list(output.logits.float())  # (C,) per row

    # -- predictions and metrics ------------------------------------------------------------
    def decode(self, example, rows: list[Row], outputs: list[torch.Tensor], names: list[str]) -> dict:
        (logits,) = outputs  # one row per example
        if self.regression:
            return {"score": float(logits[0])}
        probs = torch.softmax(logits.float(), dim=-1)
        best = int(probs.argmax())
        return {"label": names[best], "probability": float(probs[best]),
                "probabilities": {label: float(p) for label, p in zip(names, probs)}}

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


def _classes_only(name: str, objective: str) -> str:
    if objective == "regression":
        raise JarobertaError(f"{name} learns classes; objective regression applies to pair")
    return "classification"


def resolve_objective(requested: str, examples: list) -> str:
    """'auto': regression when every label is a score (a JSON float, or a CSV number with a decimal point)."""
    if requested not in OBJECTIVES:
        raise JarobertaError(f"objective must be one of {OBJECTIVES}, got {requested!r}")
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
