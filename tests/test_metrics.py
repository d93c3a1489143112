"""Fine-tuning metrics against values computed by hand (the arithmetic is in each comment)."""

from __future__ import annotations

import math

import pytest

from jaroberta.errors import JarobertaError
from jaroberta.finetune import metrics

CLASSIFICATION = [
    # gold, predicted, accuracy, macro-F1
    # 3/4 right; F1(a) = 2*1*(1/2)/(1+1/2) = 2/3 (P 1/1, R 1/2), F1(b) = 2*(2/3)*1/(5/3) = 4/5 -> (2/3 + 4/5) / 2 = 11/15
    (["a", "a", "b", "b"], ["a", "b", "b", "b"], 3 / 4, 11 / 15),
    # all right: every F1 is 1
    (["x", "y", "z"], ["x", "y", "z"], 1.0, 1.0),
    # none right, and "c" is only predicted: F1(a) = F1(b) = F1(c) = 0
    (["a", "b"], ["c", "c"], 0.0, 0.0),
    # a: P 1/2 R 1/1 F1 2/3; b: P 1/2 (3rd right, 4th is c) R 1/2 F1 1/2; c: never predicted, F1 0
    # -> (2/3 + 1/2 + 0) / 3 = 7/18
    (["a", "b", "b", "c"], ["a", "a", "b", "b"], 2 / 4, 7 / 18),
]


@pytest.mark.parametrize("gold, predicted, accuracy, macro_f1", CLASSIFICATION)
def test_accuracy_and_macro_f1(gold, predicted, accuracy, macro_f1):
    assert metrics.accuracy(gold, predicted) == pytest.approx(accuracy)
    assert metrics.macro_f1(gold, predicted) == pytest.approx(macro_f1)


def test_macro_f1_over_a_declared_label_set_counts_absent_labels_as_zero():
    # labels a, b perfect (F1 1 each), d declared but never seen: (1 + 1 + 0) / 3
    assert metrics.macro_f1(["a", "b"], ["a", "b"], labels=["a", "b", "d"]) == pytest.approx(2 / 3)


ENTITIES = [
    # gold entities per text, predicted per text, (precision, recall, f1)
    # exact match of both
    ([[(0, 2, "LOC"), (5, 7, "PSN")]], [[(0, 2, "LOC"), (5, 7, "PSN")]], (1.0, 1.0, 1.0)),
    # one span off by one character is a miss *and* a false alarm: P 1/2, R 1/2
    ([[(0, 2, "LOC"), (5, 7, "PSN")]], [[(0, 2, "LOC"), (5, 8, "PSN")]], (0.5, 0.5, 0.5)),
    # right span, wrong type counts as wrong; one extra prediction in text 2:
    # gold 3, predicted 4, correct 1 (3, 4, ORG): P 1/4, R 1/3, F1 = 2*(1/12)/(7/12) = 2/7
    ([[(0, 2, "LOC")], [(3, 4, "ORG"), (6, 9, "DAT")]], [[(0, 2, "ORG")], [(3, 4, "ORG"), (6, 8, "DAT"), (10, 11, "LOC")]],
     (0.25, 1 / 3, 2 / 7)),
    # nothing predicted: P 0 (nothing to be right about), R 0, F1 0
    ([[(0, 1, "X")]], [[]], (0.0, 0.0, 0.0)),
]


@pytest.mark.parametrize("gold, predicted, expected", ENTITIES)
def test_entity_scores_on_exact_spans(gold, predicted, expected):
    scores = metrics.entity_scores(gold, predicted)
    assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx(expected)


def test_entity_scores_per_type():
    scores = metrics.entity_scores([[(0, 2, "LOC"), (3, 5, "PSN")]], [[(0, 2, "LOC"), (3, 4, "PSN")]])
    assert scores["per_type"]["LOC"]["f1"] == 1.0
    assert scores["per_type"]["PSN"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 1, "predicted": 1, "correct": 0}


CORRELATIONS = [
    # x, y, pearson, spearman
    # perfectly linear
    ([1, 2, 3], [2, 4, 6], 1.0, 1.0),
    # reversed
    ([1, 2, 3], [3, 2, 1], -1.0, -1.0),
    # x - mean = (-1.5, -0.5, 0.5, 1.5), y - mean = (-1.5, 0.5, -0.5, 1.5): sum xy = 2.25 - 0.25 - 0.25 + 2.25 = 4,
    # sum x^2 = sum y^2 = 5 -> 4/5; the values are their own ranks, so Spearman is the same
    ([1, 2, 3, 4], [1, 3, 2, 4], 0.8, 0.8),
    # monotone but not linear: Spearman 1; Pearson of (1,2,3) vs (1,4,9):
    # mean y = 14/3, dx = (-1, 0, 1), dy = (-11/3, -2/3, 13/3): sum dx dy = 24/3 = 8; sum dx^2 = 2;
    # sum dy^2 = (121 + 4 + 169)/9 = 294/9 -> 8 / sqrt(2 * 294/9)
    ([1, 2, 3], [1, 4, 9], 8 / math.sqrt(2 * 294 / 9), 1.0),
    # ties: ranks of y = (1, 2.5, 2.5, 4); ranks of x = (1, 2, 3, 4); dx = (-1.5,-.5,.5,1.5), dy = (-1.5,0,0,1.5)
    # sum = 4.5; sum dx^2 = 5, sum dy^2 = 4.5 -> 4.5 / sqrt(22.5)
    ([1, 2, 3, 4], [0.1, 0.5, 0.5, 0.9], None, 4.5 / math.sqrt(22.5)),
]


@pytest.mark.parametrize("x, y, pearson, spearman", CORRELATIONS)
def test_pearson_and_spearman(x, y, pearson, spearman):
    if pearson is not None:
        assert metrics.pearson(x, y) == pytest.approx(pearson)
    assert metrics.spearman(x, y) == pytest.approx(spearman)


def test_constant_series_has_no_correlation():
    assert math.isnan(metrics.pearson([1, 1, 1], [1, 2, 3]))
    assert math.isnan(metrics.spearman([1, 2, 3], [4, 4, 4]))


def test_mismatched_or_empty_inputs_are_errors():
    with pytest.raises(JarobertaError, match="2 gold values but 1"):
        metrics.accuracy(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no examples"):
        metrics.macro_f1([], [])
