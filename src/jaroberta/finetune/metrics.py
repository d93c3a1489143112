"""Fine-tuning metrics: `macro_f1`, `entity_scores` (exact spans), and JGLUE's `accuracy`, `pearson`, `spearman`.

Accuracy and the correlations are the official ones of `jglue_metrics` (scipy.stats), imported
here so every kind scores with the same code as `jaroberta eval jglue`. A correlation of a
constant series is NaN, never a made-up 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

from jaroberta.finetune.jglue_metrics import accuracy, pearson, spearman  # noqa: F401  (one place)

Entity = tuple[int, int, str]
"""An entity as (start, end, type): end-exclusive character offsets."""


def _check_lengths(gold: Sequence, predicted: Sequence) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold values but {len(predicted)} predictions")
    if not len(gold):
        raise ValueError("no examples to score")


def f1_from_counts(true_positive: int, false_positive: int, false_negative: int) -> tuple[float, float, float]:
    """(precision, recall, F1); 0 where the denominator is 0 (nothing predicted / nothing to find)."""
    precision = true_positive / (true_positive + false_positive) if true_positive + false_positive else 0.0
    recall = true_positive / (true_positive + false_negative) if true_positive + false_negative else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def per_label_f1(gold: Sequence[Hashable], predicted: Sequence[Hashable], labels: Iterable[Hashable] | None = None) -> dict:
    """{label: F1} for single-label classification."""
    _check_lengths(gold, predicted)
    labels = sorted(set(gold) | set(predicted), key=str) if labels is None else list(labels)
    scores = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        scores[label] = f1_from_counts(tp, fp, fn)[2]
    return scores


def macro_f1(gold: Sequence[Hashable], predicted: Sequence[Hashable], labels: Iterable[Hashable] | None = None) -> float:
    """Unweighted mean of per-label F1 (labels: those in gold or predictions unless given, as scikit-learn does).

    A label never predicted and never gold is left out by default: it would count as a free 1.0 or a
    spurious 0.0. One passed in `labels` that occurs nowhere scores F1 0 and pulls the mean down.
    """
    scores = per_label_f1(gold, predicted, labels)
    return sum(scores.values()) / len(scores)


def entity_scores(gold: Sequence[Iterable[Entity]], predicted: Sequence[Iterable[Entity]]) -> dict:
    """Exact-span entity precision / recall / F1, micro over all entities and per type.

    Entities compare as exact (start, end, type) character spans, as CoNLL's conlleval and seqeval
    count them: a span off by one character is a miss and a false alarm.

    `gold[i]` and `predicted[i]` are the entities of example i as (start, end, type).
    Returns {"precision", "recall", "f1", "gold", "predicted", "correct", "per_type": {type: {...}}}.
    """
    _check_lengths(gold, predicted)
    counts: dict[str, Counter] = {}
    for gold_entities, predicted_entities in zip(gold, predicted):
        gold_set, predicted_set = set(map(tuple, gold_entities)), set(map(tuple, predicted_entities))
        for entity in gold_set | predicted_set:
            c = counts.setdefault(entity[2], Counter())
            c["gold"] += entity in gold_set
            c["predicted"] += entity in predicted_set
            c["correct"] += entity in gold_set and entity in predicted_set
    total = sum(counts.values(), Counter())
    return {**_span_scores(total), "per_type": {t: _span_scores(c) for t, c in sorted(counts.items())}}


def _span_scores(c: Counter) -> dict:
    precision, recall, f1 = f1_from_counts(c["correct"], c["predicted"] - c["correct"], c["gold"] - c["correct"])
    return {"precision": precision, "recall": recall, "f1": f1, "gold": c["gold"], "predicted": c["predicted"], "correct": c["correct"]}
