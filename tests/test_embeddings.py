"""Sentence embeddings: pooling by hand equals ours; padding and batching change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layouts import rinna_dir  # noqa: F401  (module-scoped fixture)

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.infer.embeddings import embed
from jaroberta.model.loading import load

TEXTS = ["今日は天気が良い。", "東京は日本の首都であり、人口が最も多い都市である。", "猫"]


@pytest.fixture(scope="module")
def rinna(rinna_dir):
    return load(rinna_dir, head="base")


def hand_hidden(lm, text: str) -> torch.Tensor:
    ids = lm.frame(lm.tokenizer.encode(text).ids)
    with torch.no_grad():
        return lm.model(input_ids=torch.tensor([ids]), position_ids=torch.arange(len(ids))[None]).last_hidden_state[0]


@pytest.mark.parametrize("pooling, reduce", [("mean", lambda h: h.mean(0)), ("cls", lambda h: h[0])])
def test_pooling_equals_hand_computation(rinna, pooling, reduce):
    vectors = embed(rinna, TEXTS, pooling=pooling, batch_size=3)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    for text, vector in zip(TEXTS, vectors):
        np.testing.assert_allclose(vector, reduce(hand_hidden(rinna, text)).numpy(), rtol=1e-4, atol=1e-5)


def test_batching_does_not_change_embeddings(rinna):
    np.testing.assert_allclose(embed(rinna, TEXTS, batch_size=1), embed(rinna, TEXTS, batch_size=8), atol=1e-5)


def test_normalize_gives_unit_vectors(rinna):
    norms = np.linalg.norm(embed(rinna, TEXTS, normalize=True), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_mlm_model_embeds_like_the_base_model(rinna_dir, rinna):
    np.testing.assert_allclose(embed(load(rinna_dir), TEXTS), embed(rinna, TEXTS), atol=1e-5)


def test_unknown_pooling_is_refused(rinna):
    with pytest.raises(JarobertaError, match="pooling"):
        embed(rinna, TEXTS, pooling="max")


def test_cli_embed_writes_npy(rinna_dir, tmp_path, capsys):
    inputs = tmp_path / "texts.txt"
    inputs.write_text("\n".join(TEXTS) + "\n\n", encoding="utf-8")
    out = tmp_path / "x.npy"
    assert main(["embed", str(rinna_dir), str(out), "--input", str(inputs), "--pooling", "cls"]) == 0
    assert np.load(out).shape == (3, 32)
    assert main(["embed", str(rinna_dir), str(tmp_path / "x.txt"), "--input", str(inputs)]) == 2
    assert ".npy" in capsys.readouterr().err
