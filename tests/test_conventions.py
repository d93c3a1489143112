"""InputConventions: the one place that says how each family frames its input."""

from __future__ import annotations

import pytest

from jaroberta.errors import JarobertaError
from jaroberta.model.conventions import InputConventions
from jaroberta.model.families import JMEDROBERTA, RINNA
from jaroberta.model.families import FAMILIES
from jaroberta.text.normalize import Normalization

VOCAB = {"[PAD]": 3, "[CLS]": 4, "[SEP]": 5, "[MASK]": 6}


@pytest.mark.parametrize(
    "conventions, pieces, expected",
    [
        (RINNA, [1602, 44], [4, 1602, 44]),  # [CLS] + pieces, no [SEP], no </s>
        (JMEDROBERTA, [1602, 44], [4, 1602, 44, 5]),  # BERT framing
        (RINNA, [], [4]),
    ],
)
def test_frame(conventions, pieces, expected):
    assert conventions.frame(pieces, VOCAB.__getitem__) == expected


def test_frame_pair_puts_separator_between_sentences():
    assert JMEDROBERTA.frame_pair([10], [20, 21], VOCAB.__getitem__) == [4, 10, 5, 20, 21, 5]
    assert RINNA.frame_pair([10], [20], VOCAB.__getitem__) == [4, 10, 5, 20]


@pytest.mark.parametrize(
    "conventions, length, expected",
    [
        (RINNA, 9, list(range(9))),  # rinna: explicit positions from 0, not padding_idx + 1
        (JMEDROBERTA, 9, None),  # BERT already counts from 0
    ],
)
def test_position_ids(conventions, length, expected):
    assert conventions.position_ids(length) == expected


def test_max_pieces_leaves_room_for_specials():
    assert RINNA.max_pieces == 511
    assert JMEDROBERTA.max_pieces == 510


def test_round_trip_through_json(tmp_path):
    custom = RINNA.with_overrides(name="ours", max_length=128, dictionaries=("med.dic",))
    custom.save(tmp_path)
    assert InputConventions.load(tmp_path) == custom


def test_unknown_override_is_a_clear_error():
    with pytest.raises(JarobertaError, match="unknown convention field"):
        RINNA.with_overrides(position_begin=2)


def test_corrupt_file_names_the_file(tmp_path):
    (tmp_path / "jaroberta_conventions.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(JarobertaError, match="jaroberta_conventions.json"):
        InputConventions.load(tmp_path)


def test_impossible_max_length_is_refused():
    with pytest.raises(ValueError, match="no room"):
        InputConventions(name="x", max_length=2)


def test_known_families_state_their_normalization():
    assert FAMILIES["rinna"].conventions.normalization == Normalization(lowercase=True)
    assert FAMILIES["jmedroberta"].conventions.normalization == Normalization(full_width=True)
