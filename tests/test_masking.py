"""Masking statistics: rate, replacement split, specials never masked, whole words, no empty row."""

from __future__ import annotations

import pytest
import torch

from jaroberta.model.masking import IGNORE_INDEX, NO_WORD, MaskingConfig, mask_batch

MASK_ID, VOCAB = 6, 1000
SPECIALS = (3, 4, 5, MASK_ID)  # pad, cls, sep, mask as in rinna's vocabulary


def _batch(rows=64, length=128, seed=0):
    """Random ids from 10.. with [CLS] first, [SEP] last and padding at the end of odd rows."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, VOCAB, (rows, length), generator=g)
    ids[:, 0] = 4
    ids[:, -1] = 5
    ids[1::2, -20:] = 3
    special = torch.isin(ids, torch.tensor(SPECIALS))
    return ids, special


def _words(special: torch.Tensor, piece_per_word=3) -> torch.Tensor:
    """Word index per piece: consecutive runs of `piece_per_word` pieces; NO_WORD at specials."""
    positions = torch.arange(special.shape[1]).expand_as(special)
    return torch.where(special, torch.full_like(positions, NO_WORD), positions // piece_per_word)


@pytest.mark.parametrize(
    "config, expect_mask, expect_random",
    [
        (MaskingConfig(), 0.8, 0.1),
        (MaskingConfig(mask_fraction=1.0, random_fraction=0.0), 1.0, 0.0),  # rinna
        (MaskingConfig(rate=0.3, mask_fraction=0.5, random_fraction=0.5), 0.5, 0.5),
        (MaskingConfig(whole_word=True), 0.8, 0.1),
    ],
)
def test_rate_and_replacement_split(config, expect_mask, expect_random):
    ids, special = _batch(rows=256)
    g = torch.Generator().manual_seed(1)
    masked, labels = mask_batch(ids, special, config, MASK_ID, VOCAB, g, word_ids=_words(special))
    chosen = labels != IGNORE_INDEX
    rate = chosen.sum() / (~special).sum()
    assert abs(rate.item() - config.rate) < 0.015
    assert torch.equal(labels[chosen], ids[chosen])
    n = chosen.sum().item()
    as_mask = (masked[chosen] == MASK_ID).sum().item() / n
    changed = ((masked[chosen] != ids[chosen]) & (masked[chosen] != MASK_ID)).sum().item() / n
    assert abs(as_mask - expect_mask) < 0.02
    # a random token can by chance be the original: 1/VOCAB of them, negligible here
    assert abs(changed - expect_random) < 0.02
    assert torch.equal(masked[~chosen], ids[~chosen])


@pytest.mark.parametrize("whole_word", [False, True])
def test_specials_never_masked(whole_word):
    ids, special = _batch()
    g = torch.Generator().manual_seed(2)
    config = MaskingConfig(rate=0.9, whole_word=whole_word)
    masked, labels = mask_batch(ids, special, config, MASK_ID, VOCAB, g, word_ids=_words(special))
    assert (labels[special] == IGNORE_INDEX).all()
    assert torch.equal(masked[special], ids[special])


def test_whole_words_all_or_none():
    ids, special = _batch(rows=32)
    words = _words(special, piece_per_word=4)
    g = torch.Generator().manual_seed(3)
    _, labels = mask_batch(ids, special, MaskingConfig(whole_word=True), MASK_ID, VOCAB, g, word_ids=words)
    chosen = labels != IGNORE_INDEX
    for row in range(ids.shape[0]):
        for word in words[row][~special[row]].unique().tolist():
            in_word = chosen[row][(words[row] == word) & ~special[row]]
            assert in_word.all() or not in_word.any(), f"row {row} word {word} partly masked"


@pytest.mark.parametrize("whole_word", [False, True])
def test_every_row_has_a_mask(whole_word):
    # Short rows with a tiny rate: most rows would get nothing without the guarantee.
    ids = torch.tensor([[4, 11, 12, 13, 5, 3, 3]] * 200)
    special = torch.isin(ids, torch.tensor(SPECIALS))
    words = torch.tensor([[NO_WORD, 0, 0, 1, NO_WORD, NO_WORD, NO_WORD]] * 200)
    g = torch.Generator().manual_seed(4)
    config = MaskingConfig(rate=0.01, whole_word=whole_word)
    _, labels = mask_batch(ids, special, config, MASK_ID, VOCAB, g, word_ids=words)
    chosen = labels != IGNORE_INDEX
    assert chosen.any(dim=1).all()
    assert not chosen[special].any()
    if whole_word:  # a forced pick takes its whole word: pieces 1 and 2 go together
        assert torch.equal(chosen[:, 1], chosen[:, 2])


def test_same_generator_state_same_masks():
    ids, special = _batch()
    first = mask_batch(ids, special, MaskingConfig(), MASK_ID, VOCAB, torch.Generator().manual_seed(5))
    second = mask_batch(ids, special, MaskingConfig(), MASK_ID, VOCAB, torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize(
    "kwargs",
    [dict(rate=0.0), dict(rate=1.0), dict(mask_fraction=0.9, random_fraction=0.2), dict(random_fraction=-0.1)],
)
def test_bad_config_refused(kwargs):
    with pytest.raises(ValueError):
        MaskingConfig(**kwargs)


def test_row_of_only_specials_refused():
    ids = torch.tensor([[4, 5, 3]])
    with pytest.raises(ValueError, match="no maskable token"):
        mask_batch(ids, torch.ones_like(ids, dtype=torch.bool), MaskingConfig(), MASK_ID, VOCAB, None)
