"""Pseudo-log-likelihood scoring and dev masked-token perplexity, checked against the
definitions computed by hand."""

from __future__ import annotations

import json
import math

import pytest
import torch
from layouts import rinna_dir  # noqa: F401  (module-scoped fixture)

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.infer.scoring import pseudo_log_likelihood
from jaroberta.model.loading import load
from jaroberta.model.perplexity import masked_perplexity

TEXTS = ["今日は天気が良い。", "東京は日本の首都である。", "猫が寝ている。"]


@pytest.fixture(scope="module")
def rinna(rinna_dir):
    return load(rinna_dir)


def hand_pll(lm, text: str) -> tuple[float, int]:
    ids = lm.frame(lm.tokenizer.encode(text).ids)
    total = 0.0
    for pos in range(1, len(ids)):  # rinna: [CLS] first, no suffix
        masked = ids[:pos] + [lm.mask_id] + ids[pos + 1 :]
        with torch.no_grad():
            logits = lm.model(input_ids=torch.tensor([masked]), position_ids=torch.arange(len(ids))[None]).logits[0]
        total += float(torch.log_softmax(logits[pos], -1)[ids[pos]])
    return total, len(ids) - 1


def test_pll_equals_masking_each_piece_by_hand(rinna):
    scores = pseudo_log_likelihood(rinna, TEXTS, batch_size=4)
    for text, score in zip(TEXTS, scores):
        pll, n = hand_pll(rinna, text)
        assert score.text == text and score.n_tokens == n
        assert score.pll == pytest.approx(pll, abs=1e-3)
        assert score.pseudo_perplexity == pytest.approx(math.exp(-pll / n), rel=1e-3)


def test_pll_does_not_depend_on_batch_size(rinna):
    a = pseudo_log_likelihood(rinna, TEXTS, batch_size=1)
    b = pseudo_log_likelihood(rinna, TEXTS, batch_size=64)
    assert [s.pll for s in a] == pytest.approx([s.pll for s in b], abs=1e-4)


def test_empty_text_has_no_perplexity(rinna):
    [score] = pseudo_log_likelihood(rinna, [""])
    assert score.n_tokens == 0 and math.isnan(score.pseudo_perplexity)


@pytest.mark.parametrize(
    "text, kwargs, message",
    [("今日は[MASK]だ。", {}, "contains \\[MASK\\]"), ("あ" * 600, {}, "--truncate")],
)
def test_bad_scoring_input(rinna, text, kwargs, message):
    with pytest.raises(JarobertaError, match=message):
        pseudo_log_likelihood(rinna, [text], **kwargs)


def test_truncated_scoring_is_flagged(rinna):
    [score] = pseudo_log_likelihood(rinna, ["今日は天気が良い。" * 100], truncate=True, batch_size=128)
    assert score.truncated and score.n_tokens == rinna.conventions.max_pieces


# -- dev perplexity ------------------------------------------------------------------
DOCUMENTS = [
    ["今日は天気が良い。", "公園を散歩した。"],
    ["東京は日本の首都である。"],
    ["猫が窓辺で昼寝をしている。", "図書館で調べ物をした。", "電車が遅れた。"],
]


def write_corpus(folder, dev_documents, train_documents=(["学習用の文。"],)):
    """A corpus folder in `jaroberta.corpus.layout`'s format: train/ and dev/ parts in the
    CC-100 format (one sentence per line, a blank line between documents)."""
    for split, documents in (("train", train_documents), ("dev", dev_documents)):
        (folder / split).mkdir(parents=True, exist_ok=True)
        text = "".join("".join(line + "\n" for line in doc) + "\n" for doc in documents)
        (folder / split / "part-00000.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus", DOCUMENTS)


def hand_perplexity(lm, seed: int, rate: float) -> float:
    from jaroberta.model.masking import MaskingConfig, mask_batch

    generator = torch.Generator().manual_seed(seed)
    config = MaskingConfig(rate=rate, mask_fraction=1.0, random_fraction=0.0)
    total, count = 0.0, 0
    for doc in DOCUMENTS:
        pieces = [i for s in doc for i in lm.tokenizer.encode(s).ids]
        if not pieces:
            continue
        ids = torch.tensor([lm.frame(pieces)])
        special = torch.zeros_like(ids, dtype=torch.bool)
        special[0, 0] = True
        masked, labels = mask_batch(ids, special, config, lm.mask_id, lm.tokenizer.vocab_size, generator)
        assert (masked[labels != -100] == lm.mask_id).all()  # rinna: every chosen piece becomes [MASK]
        with torch.no_grad():
            logits = lm.model(input_ids=masked, position_ids=torch.arange(ids.shape[1])[None]).logits
        total += float(torch.nn.functional.cross_entropy(logits[0], labels[0], ignore_index=-100, reduction="sum"))
        count += int((labels != -100).sum())
    return math.exp(total / count)


def test_perplexity_is_exp_of_masked_cross_entropy(rinna, corpus):
    report = masked_perplexity(rinna, corpus, seed=3, rate=0.3, batch_size=2)
    assert report.perplexity == pytest.approx(hand_perplexity(rinna, seed=3, rate=0.3), rel=1e-4)
    assert (report.n_documents, report.n_empty, report.n_windows) == (3, 0, 3)


def test_perplexity_masks_are_fixed_by_the_seed_not_the_batch(rinna, corpus):
    a = masked_perplexity(rinna, corpus, seed=1, batch_size=1)
    b = masked_perplexity(rinna, corpus, seed=1, batch_size=16)
    c = masked_perplexity(rinna, corpus, seed=2, batch_size=16)
    assert a.perplexity == pytest.approx(b.perplexity, rel=1e-5) and a.n_masked == b.n_masked
    assert c.perplexity != pytest.approx(a.perplexity, rel=1e-6)


def test_long_documents_are_cut_into_windows_not_dropped(rinna, tmp_path):
    long_doc = ["今日は天気が良いので公園を散歩した。"] * 60
    report = masked_perplexity(rinna, write_corpus(tmp_path / "long", [long_doc]), rate=0.15)
    assert report.n_windows >= 2 and report.n_documents == 1


def test_split_and_max_documents_are_honoured(rinna, corpus):
    assert masked_perplexity(rinna, corpus, max_documents=2).n_documents == 2
    assert masked_perplexity(rinna, corpus, split="train").n_documents == 1


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: (d / "nodev" / "train").mkdir(parents=True) or d / "nodev", "no dev split"),
])
def test_bad_corpus_folders_are_clear(rinna, tmp_path, make, message):
    with pytest.raises(JarobertaError, match=message):
        masked_perplexity(rinna, make(tmp_path))


def test_cli_score_and_eval_perplexity(rinna_dir, corpus, capsys):
    assert main(["score", str(rinna_dir), *TEXTS, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == TEXTS
    assert main(["eval", "perplexity", str(rinna_dir), str(corpus), "--json", "--mask-seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "dev" and report["seed"] == 3 and report["perplexity"] > 1
