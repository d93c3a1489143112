"""The masked-LM objective's shortcut (head and most of the last layer at masked positions
only) must give the loss and gradients of transformers' full forward."""

from __future__ import annotations

import pytest
import torch

from jaroberta.model.masking import IGNORE_INDEX
from jaroberta.model.presets import build_model, model_config
from jaroberta.train.objective import MaskedLMObjective

SPECIALS = {"unk": 0, "pad": 3, "cls": 4, "sep": 5, "mask": 6}
VOCAB, LENGTH = 300, 24


def _batch(seed: int):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, VOCAB, (4, LENGTH), generator=generator)
    labels = torch.where(torch.rand(ids.shape, generator=generator) < 0.2, ids, IGNORE_INDEX)
    labels[2] = IGNORE_INDEX  # a row without any mask
    labels[2, 0] = ids[2, 0]
    return ids, labels


def _loss_and_grads(objective: MaskedLMObjective, ids, labels, lengths):
    objective.zero_grad()
    loss = objective(ids, labels, lengths)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in objective.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("preset", ["small", "small-bert", "mini", "tiny"])
@pytest.mark.parametrize("lengths", [[LENGTH] * 4, [LENGTH, 17, 5, 1]], ids=["full-rows", "padded"])
def test_shortcut_equals_the_full_forward(preset, lengths):
    torch.manual_seed(0)
    model = build_model(model_config(preset, VOCAB, SPECIALS, LENGTH)).eval()  # eval: no dropout on either side
    objective = MaskedLMObjective(model, explicit_position_ids=True)
    assert objective.layers is not None, "the shortcut should apply to transformers' RoBERTa/BERT with SDPA"
    ids, labels = _batch(1)
    lengths = torch.tensor(lengths)
    fast, fast_grads = _loss_and_grads(objective, ids, labels, lengths)
    objective.layers = None  # the plain path: transformers' encoder, then the head at masked positions
    full, full_grads = _loss_and_grads(objective, ids, labels, lengths)
    assert torch.allclose(fast, full, rtol=1e-5, atol=1e-5)
    assert fast_grads.keys() == full_grads.keys()
    for name, grad in fast_grads.items():
        assert torch.allclose(grad, full_grads[name], rtol=1e-4, atol=1e-6), name


def test_other_attention_implementations_take_the_plain_path():
    model = build_model(model_config("tiny", VOCAB, SPECIALS, LENGTH))
    model.config._attn_implementation = "eager"
    objective = MaskedLMObjective(model, explicit_position_ids=True)
    assert objective.layers is None
    ids, labels = _batch(2)
    assert torch.isfinite(objective(ids, labels, torch.full((4,), LENGTH)))


def test_training_mode_uses_dropout_in_the_shortcut():
    torch.manual_seed(0)
    model = build_model(model_config("small", VOCAB, SPECIALS, LENGTH)).train()
    objective = MaskedLMObjective(model, explicit_position_ids=True)
    ids, labels = _batch(3)
    lengths = torch.full((4,), LENGTH)
    first, second = objective(ids, labels, lengths), objective(ids, labels, lengths)
    assert first.item() != second.item()  # dropout is on: two passes differ
