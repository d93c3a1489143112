"""The official JGLUE metrics, computed once: accuracy, Pearson / Spearman, JSQuAD EM / F1.

Every score is a fraction (0.909, as JGLUE's README table prints them), not a percentage.

- `accuracy`: MARC-ja, JNLI, JCommonsenseQA.
- `pearson`, `spearman`: JSTS, through `scipy.stats` (Spearman ranks ties by their average
  rank). A constant series has no correlation: NaN, never a made-up 0.
- `squad_scores`: JSQuAD exact match and F1 exactly as JGLUE's patch of transformers 4.9's
  `squad_metrics.py` computes them:
  * `normalize_answer`: lower-case; *no* punctuation removal; the English article removal
    replaced by stripping trailing "。" (all of them: `str.rstrip`); then whitespace runs
    collapsed to one space and edge whitespace dropped (`" ".join(s.split())`). The order
    matters: "答え。 " keeps its "。", because the space is still there when "。" is stripped.
  * F1 over *characters* of the normalized strings (spaces inside count as characters),
    bag-of-characters overlap (`Counter &`); an empty side scores 1 only against another
    empty side.
  * per question, the maximum over its gold answers; gold answers that normalize to ""
    are left out, and a question left with none has "" as its only gold (SQuAD 2's rule,
    which JSQuAD never triggers).
  Unlike the official script, which prints "Missing prediction" and averages over the
  questions it did score, a question without a prediction is an error here: a missing
  answer would silently raise the score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from scipy import stats

from jaroberta.errors import JarobertaError


def _check_lengths(gold: Sequence, predicted: Sequence) -> None:
    if len(gold) != len(predicted):
        raise JarobertaError(f"{len(gold)} gold values but {len(predicted)} predictions: every example needs one prediction")
    if not len(gold):
        raise JarobertaError("no examples to score")


def accuracy(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Fraction of predictions equal to the gold label."""
    _check_lengths(gold, predicted)
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold)


def _constant(values: Sequence[float]) -> bool:
    array = np.asarray(values, dtype=np.float64)
    return bool(np.all(array == array[0]))


def pearson(gold: Sequence[float], predicted: Sequence[float]) -> float:
    """Pearson correlation (scipy.stats.pearsonr); NaN when either series is constant."""
    _check_lengths(gold, predicted)
    if len(gold) < 2 or _constant(gold) or _constant(predicted):
        return float("nan")
    return float(stats.pearsonr(np.asarray(gold, dtype=np.float64), np.asarray(predicted, dtype=np.float64))[0])


def spearman(gold: Sequence[float], predicted: Sequence[float]) -> float:
    """Spearman rank correlation, ties at their average rank (scipy.stats.spearmanr); NaN when either series is constant."""
    _check_lengths(gold, predicted)
    if len(gold) < 2 or _constant(gold) or _constant(predicted):
        return float("nan")
    return float(stats.spearmanr(np.asarray(gold, dtype=np.float64), np.asarray(predicted, dtype=np.float64))[0])


def similarity_scores(gold: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """JSTS's two numbers: {"pearson", "spearman"}."""
    return {"pearson": pearson(gold, predicted), "spearman": spearman(gold, predicted)}


# -- JSQuAD --------------------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """JGLUE's answer normalization: lower-case, trailing "。" stripped, whitespace runs collapsed."""
    return " ".join(text.lower().rstrip("。").split())


def exact_match(gold: str, predicted: str) -> int:
    """1 when the two answers are equal after `normalize_answer`, else 0."""
    return int(normalize_answer(gold) == normalize_answer(predicted))


def char_f1(gold: str, predicted: str) -> float:
    """F1 over the characters of the normalized answers (a bag of characters, as JGLUE's patch)."""
    gold_chars, predicted_chars = list(normalize_answer(gold)), list(normalize_answer(predicted))
    if not gold_chars or not predicted_chars:
        return float(gold_chars == predicted_chars)
    same = sum((Counter(gold_chars) & Counter(predicted_chars)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted_chars), same / len(gold_chars)
    return 2 * precision * recall / (precision + recall)


def question_scores(golds: Sequence[str], predicted: str) -> tuple[int, float]:
    """(EM, F1) of one question: the maximum over its gold answers."""
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return max(exact_match(g, predicted) for g in golds), max(char_f1(g, predicted) for g in golds)


def squad_scores(golds: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> dict[str, float]:
    """{"exact_match", "f1"} as fractions, averaged over the questions of `golds` (id -> gold answer texts).

    `predictions` maps the same ids to answer texts; a missing id is an error, extra ids too.
    """
    if not golds:
        raise JarobertaError("no questions to score")
    missing = [qid for qid in golds if qid not in predictions]
    if missing:
        raise JarobertaError(f"{len(missing)} of {len(golds)} questions have no prediction (first: {missing[0]!r})")
    extra = [qid for qid in predictions if qid not in golds]
    if extra:
        raise JarobertaError(f"{len(extra)} predictions are for questions not in the gold data (first: {extra[0]!r})")
    exact, f1 = 0.0, 0.0
    for qid, answers in golds.items():
        em, score = question_scores(answers, predictions[qid])
        exact += em
        f1 += score
    return {"exact_match": exact / len(golds), "f1": f1 / len(golds)}


# -- JSTS without fine-tuning -------------------------------------------------------------------
def cosine_similarities(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]]) -> np.ndarray:
    """Cosine of each pair of vectors (row i of `first` with row i of `second`); 0 where a vector is all zeros."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise JarobertaError(f"expected two lists of vectors of the same shape, got {a.shape} and {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)  # (N,)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def zero_shot_similarity(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]], gold: Sequence[float]) -> dict[str, float]:
    """JSTS zero-shot: {"pearson", "spearman"} between gold scores and the cosine of each pair's
    sentence embeddings (`infer.embeddings.embed` of sentence1 and of sentence2); no fine-tuning."""
    cosines = cosine_similarities(first, second)
    return similarity_scores(list(gold), cosines.tolist())
