"""Masked-LM loss per character (model/char_loss.py): words cut without a tokenizer, masks that
do not depend on the model, the order or the batch, the loss checked by hand, the uncertainty
against its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from layouts import jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.errors import JarobertaError
from jaroberta.model.char_loss import bits_per_character, bootstrap_interval, corpus_bits_per_character, ratio_standard_error, words
from jaroberta.model.loading import load

DOCUMENTS = [
    ["今日は天気が良い。", "公園を散歩した。"],
    ["東京は日本の首都である。"],
    ["猫が窓辺で昼寝をしている。", "図書館で調べ物をした。", "電車が遅れた。"],
    ["LibreOffice Calc のセルを選択します。", "メニュー → 表示を開きます。"],
]


@pytest.fixture(scope="module")
def rinna(rinna_dir):
    return load(rinna_dir)


@pytest.fixture(scope="module")
def jmed(jmed_dir, manbyo_dic):
    return load(jmed_dir, user_dicts=[manbyo_dic])


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("今日は天気が良い。", ["今日", "は", "天気", "が", "良", "い", "。"]),
        ("ドキュメントを保存", ["ドキュメント", "を", "保存"]),
        ("Calc 2024 の表", ["Calc", "2024", "の", "表"]),
        ("ＡＢＣ１２３とｶﾀｶﾅ", ["ＡＢＣ１２３", "と", "ｶﾀｶﾅ"]),
        ("メニュー → 表示", ["メニュー", "→", "表示"]),
        ("  ", []),
    ],
)
def test_words_are_cut_by_script(sentence, expected):
    assert [sentence[a:b] for a, b in words(sentence)] == expected


def test_one_word_document_is_scored_whole_by_hand(rinna):
    """A document of one word: that word is chosen, every piece masked; the loss by hand."""
    text = "東京"
    report = bits_per_character(rinna, [[text]])
    encoding = rinna.tokenizer.encode(text)
    framed = rinna.frame(encoding.ids)
    positions = [rinna.prefix_length + i for i, (a, b) in enumerate(encoding.offsets) if b > a]
    masked = list(framed)
    for p in positions:
        masked[p] = rinna.mask_id
    with torch.no_grad():
        logits = rinna.model(input_ids=torch.tensor([masked]), position_ids=torch.arange(len(masked))[None]).logits[0]
    nats = -sum(float(torch.log_softmax(logits[p], -1)[framed[p]]) for p in positions)
    assert report.masked_words == 1 and report.masked_pieces == len(positions)
    assert report.characters == len(text)
    assert report.bits_per_character == pytest.approx(nats / math.log(2) / len(text), rel=1e-5)


def test_masks_do_not_depend_on_order_or_batch(rinna):
    forward = bits_per_character(rinna, DOCUMENTS, batch_size=1)
    backward = bits_per_character(rinna, DOCUMENTS[::-1], batch_size=7)
    assert forward.bits == pytest.approx(backward.bits, rel=1e-5)
    assert (forward.characters, forward.masked_pieces) == (backward.characters, backward.masked_pieces)
    other_seed = bits_per_character(rinna, DOCUMENTS, seed=1)
    assert other_seed.bits != pytest.approx(forward.bits, rel=1e-9)  # the seed does choose the masks


def test_models_with_different_tokenizers_mask_the_same_words(rinna, jmed):
    a, b = bits_per_character(rinna, DOCUMENTS), bits_per_character(jmed, DOCUMENTS)
    assert a.masked_words == b.masked_words
    assert a.n_documents == b.n_documents == len(DOCUMENTS)
    assert 0 < a.bits_per_character and 0 < b.bits_per_character


def test_report_carries_its_uncertainty(rinna):
    report = bits_per_character(rinna, DOCUMENTS)
    low, high = report.interval
    assert low <= report.bits_per_character <= high
    assert report.standard_error > 0
    assert "bits per character" in report.describe() and "standard error" in report.describe()


def test_ratio_standard_error_matches_the_mean_formula_for_equal_weights():
    numerators = np.array([1.0, 2.0, 4.0, 7.0])
    denominators = np.full(4, 2.0)  # equal weights: the ratio is a mean of numerators / 2
    expected = np.std(numerators / 2, ddof=1) / math.sqrt(4)
    assert ratio_standard_error(numerators, denominators) == pytest.approx(expected)


def test_bootstrap_interval_is_fixed_by_its_seed():
    rng = np.random.default_rng(3)
    numerators, denominators = rng.random(50), rng.random(50) + 1
    assert bootstrap_interval(numerators, denominators, seed=0) == bootstrap_interval(numerators, denominators, seed=0)
    low, high = bootstrap_interval(numerators, denominators)
    assert low < numerators.sum() / denominators.sum() < high


def test_empty_documents_are_counted(rinna):
    report = bits_per_character(rinna, [[" "], *DOCUMENTS])
    assert report.n_empty == 1 and report.n_documents == len(DOCUMENTS)
    with pytest.raises(JarobertaError, match="no text to score"):
        bits_per_character(rinna, [[" "]])
    with pytest.raises(JarobertaError, match="mask rate"):
        bits_per_character(rinna, DOCUMENTS, rate=0.0)


def test_corpus_split(rinna, tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "part.txt").write_text("".join("\n".join(d) + "\n\n" for d in DOCUMENTS), encoding="utf-8")
    from_corpus = corpus_bits_per_character(rinna, tmp_path, split="dev")
    assert from_corpus.bits == pytest.approx(bits_per_character(rinna, DOCUMENTS).bits, rel=1e-6)
