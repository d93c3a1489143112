"""JGLUE's official metrics against values computed by hand (the arithmetic is in each comment)."""

from __future__ import annotations

import math

import pytest

from jaroberta.errors import JarobertaError
from jaroberta.finetune import jglue_metrics as m

NORMALIZE = [
    # text, normalized (JGLUE's patch: lower, rstrip("。"), " ".join(split()))
    ("ABC。", "abc"),
    ("答え。。", "答え"),  # rstrip removes every trailing 。
    ("答え。 ", "答え。"),  # the space is still there when 。 is stripped, then dropped by split
    ("  a  b\tc ", "a b c"),
    ("東京。駅", "東京。駅"),  # only a trailing 。
    ("ＡＢＣ", "ａｂｃ"),  # full-width letters lower-case too; no width conversion
    ("、答え！", "、答え！"),  # no punctuation removal
    ("", ""),
]


@pytest.mark.parametrize("text, expected", NORMALIZE)
def test_normalize_answer(text, expected):
    assert m.normalize_answer(text) == expected


ANSWERS = [
    # gold, predicted, EM, character F1
    ("東京駅", "東京駅。", 1, 1.0),
    # 2 of 3 gold characters, all predicted ones right: P 1, R 2/3, F1 = 2*(2/3)/(5/3) = 4/5
    ("東京駅", "東京", 0, 4 / 5),
    # "285 km/h" has 8 characters (the space counts), "285km/h" 7, all shared: P 1, R 7/8 -> 14/15
    ("285 km/h", "285km/h", 0, 14 / 15),
    # bag of characters: gold あ×2 い×1, predicted あ×1 い×1: 2 shared, P 1, R 2/3 -> 4/5
    ("ああい", "あい", 0, 4 / 5),
    ("abc", "xyz", 0, 0.0),
    # an empty prediction against a real answer scores 0, two empty ones 1
    ("東京", "", 0, 0.0),
    ("", "", 1, 1.0),
    ("Tokyo", "tokyo", 1, 1.0),
]


@pytest.mark.parametrize("gold, predicted, em, f1", ANSWERS)
def test_exact_match_and_character_f1(gold, predicted, em, f1):
    assert m.exact_match(gold, predicted) == em
    assert m.char_f1(gold, predicted) == pytest.approx(f1)


def test_question_takes_the_best_gold_answer_for_each_metric():
    golds = ["小笠原諸島", "小笠原諸島を除く日本"]
    # vs the first (5 chars): 5 shared of 8 predicted: P 5/8, R 1 -> 10/13;
    # vs the second (10 chars): 8 shared: P 1, R 8/10 -> 8/9; the maximum is 8/9
    assert m.question_scores(golds, "小笠原諸島を除く") == (0, pytest.approx(8 / 9))
    assert m.question_scores(golds, "小笠原諸島。") == (1, 1.0)
    # gold answers that normalize to nothing are ignored; none left -> "" is the gold
    assert m.question_scores(["。", " "], "") == (1, 1.0)


def test_squad_scores_average_over_questions():
    golds = {"q1": ["雨季", "雨季"], "q2": ["小笠原諸島", "小笠原諸島を除く日本"]}
    scores = m.squad_scores(golds, {"q1": "雨季", "q2": "小笠原諸島を除く"})
    # q1: EM 1, F1 1; q2: EM 0, F1 8/9 -> EM 1/2, F1 (1 + 8/9) / 2 = 17/18
    assert scores == {"exact_match": 0.5, "f1": pytest.approx(17 / 18)}


def test_squad_scores_refuse_missing_and_unknown_predictions():
    with pytest.raises(JarobertaError, match="1 of 2 questions have no prediction.*'q2'"):
        m.squad_scores({"q1": ["a"], "q2": ["b"]}, {"q1": "a"})
    with pytest.raises(JarobertaError, match="not in the gold data.*'q9'"):
        m.squad_scores({"q1": ["a"]}, {"q1": "a", "q9": "b"})


CORRELATIONS = [
    # gold, predicted, Pearson, Spearman
    ([1, 2, 3, 4], [2, 4, 6, 8], 1.0, 1.0),
    ([1, 2, 3], [3, 2, 1], -1.0, -1.0),
    # ranks already: d = (1, 1, 1, 1, 0), rho = 1 - 6*4 / (5*24) = 0.8, and Pearson of ranks is the same
    ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], 0.8, 0.8),
    # deviations (-1/3, -1/3, 2/3) and (-2/3, 1/3, 1/3): cov 1/3, variances 2/3 -> 0.5;
    # average ranks (1.5, 1.5, 3) and (1, 2.5, 2.5) have the same shape -> 0.5
    ([0, 0, 1], [0, 1, 1], 0.5, 0.5),
    # ties: gold ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): cov 4.5, variances 4.5 and 5 -> sqrt(0.9);
    # raw values: cov 3, variances 2 and 5 -> 3 / sqrt(10), also sqrt(0.9)
    ([1, 2, 2, 3], [1, 2, 3, 4], math.sqrt(0.9), math.sqrt(0.9)),
    # Pearson sees the values: deviations (-1, 0, 1) and (-10, -9, 19): cov 29, variances 2 and 542
    # -> 29 / sqrt(1084); Spearman only the order, which agrees perfectly
    ([1, 2, 3], [1, 2, 30], 29 / math.sqrt(1084), 1.0),
]


@pytest.mark.parametrize("gold, predicted, pearson, spearman", CORRELATIONS)
def test_pearson_and_spearman(gold, predicted, pearson, spearman):
    assert m.pearson(gold, predicted) == pytest.approx(pearson)
    assert m.spearman(gold, predicted) == pytest.approx(spearman)
    assert m.similarity_scores(gold, predicted) == {"pearson": pytest.approx(pearson), "spearman": pytest.approx(spearman)}


def test_a_constant_series_has_no_correlation():
    assert math.isnan(m.pearson([1, 2, 3], [2, 2, 2]))
    assert math.isnan(m.spearman([4, 4], [1, 2]))


ACCURACY = [
    (["entailment", "neutral", "contradiction", "neutral"], ["entailment", "neutral", "neutral", "neutral"], 3 / 4),
    ([0, 1, 2], [0, 1, 2], 1.0),
    ([4, 4], [0, 1], 0.0),
]


@pytest.mark.parametrize("gold, predicted, expected", ACCURACY)
def test_accuracy(gold, predicted, expected):
    assert m.accuracy(gold, predicted) == pytest.approx(expected)


def test_mismatched_or_empty_inputs_are_errors():
    with pytest.raises(JarobertaError, match="3 gold values but 2 predictions"):
        m.accuracy([1, 2, 3], [1, 2])
    with pytest.raises(JarobertaError, match="no examples"):
        m.pearson([], [])


def test_cosine_similarities_by_hand():
    # (1,0)·(1,0) = 1; (1,0)·(0,2) = 0; (3,4)·(4,3) = 24 / (5*5); a zero vector has no direction: 0
    cosines = m.cosine_similarities([[1, 0], [1, 0], [3, 4], [0, 0]], [[1, 0], [0, 2], [4, 3], [1, 1]])
    assert cosines.tolist() == pytest.approx([1.0, 0.0, 0.96, 0.0])


def test_jsts_zero_shot_correlates_gold_scores_with_cosines():
    first = [[1, 0], [1, 0], [1, 0], [1, 0]]
    second = [[1, 0], [1, 1], [0, 1], [-1, 0]]  # cosines 1, 1/sqrt(2), 0, -1
    # gold in the same order as the cosines: Spearman 1; reversed: -1
    assert m.zero_shot_similarity(first, second, [5.0, 3.5, 1.0, 0.0])["spearman"] == pytest.approx(1.0)
    assert m.zero_shot_similarity(first, second, [0.0, 1.0, 2.0, 4.0])["spearman"] == pytest.approx(-1.0)
    with pytest.raises(JarobertaError, match="same shape"):
        m.zero_shot_similarity([[1, 0]], [[1, 0, 0]], [1.0])
