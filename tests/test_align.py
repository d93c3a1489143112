"""Character spans <-> pieces through the tokenizer's offsets, from tables of cases.

The first table uses hand-written offsets (every situation the two families produce:
SentencePiece's bare `▁`, word-start pieces covering a space, entity edges inside a
piece); the second runs the real tokenizers of both families, whose offsets point into
the original text whatever normalization ran (lower-casing + NFKC, full-width).
"""

from __future__ import annotations

import pytest
from layouts import jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.finetune.align import piece_cores, round_trip, spans_from_tags, tags_for_pieces
from jaroberta.finetune.data import Span
from jaroberta.text import load_tokenizer

HAND_CASES = [
    # (text, piece offsets, entities, expected piece tags, entities recovered exactly)
    pytest.param("東京都に住む", [(0, 2), (2, 3), (3, 4), (4, 6)], [(0, 3, "LOC")],
                 ["B-LOC", "I-LOC", "O", "O"], 1, id="entity over two pieces"),
    pytest.param("2005年に。", [(0, 4), (4, 6), (6, 7)], [(0, 5, "DAT")],
                 ["B-DAT", "I-DAT", "O"], 0, id="entity edge inside a piece is not exact"),
    pytest.param("a 東京", [(0, 1), (1, 2), (2, 4)], [(2, 4, "LOC")],
                 ["O", None, "B-LOC"], 1, id="bare space piece has no tag"),
    pytest.param("は 東京", [(0, 1), (1, 4)], [(2, 4, "LOC")],
                 ["O", "B-LOC"], 1, id="word-start piece covering a space"),
    pytest.param("渾身　ＫＯＮ", [(0, 2), (2, 3), (3, 6)], [(0, 6, "ART")],
                 ["B-ART", None, "I-ART"], 1, id="entity spanning an inner space"),
    pytest.param("東京大阪", [(0, 2), (2, 4)], [(0, 2, "LOC"), (2, 4, "LOC")],
                 ["B-LOC", "B-LOC"], 2, id="adjacent entities of one type"),
    pytest.param("東京", [(0, 0), (0, 2)], [(0, 2, "LOC")],
                 [None, "B-LOC"], 1, id="empty dummy-prefix piece"),
    pytest.param("AB", [(0, 2)], [(0, 1, "X"), (1, 2, "Y")],
                 ["B-X"], 0, id="two entities inside one piece"),
    pytest.param("今日は晴れ", [(0, 2), (2, 3), (3, 5)], [],
                 ["O", "O", "O"], 0, id="no entities"),
]


@pytest.mark.parametrize("text, offsets, entities, tags, exact", HAND_CASES)
def test_tags_and_round_trip_on_hand_offsets(text, offsets, entities, tags, exact):
    spans = [Span(*e) for e in entities]
    assert tags_for_pieces(text, offsets, spans) == tags
    assert round_trip(text, offsets, spans).exact == exact


def test_predictions_map_back_to_trimmed_character_spans():
    text = "昨日 東京 で"
    offsets = [(0, 2), (2, 5), (5, 7), (7, 7)]  # "昨日", " 東京" and " で" (word starts cover the space), a bare "▁"
    assert piece_cores(text, offsets) == [(0, 2), (3, 5), (6, 7), None]
    # An I- tag that starts an entity is read as its start (as conlleval does).
    assert spans_from_tags(text, offsets, ["O", "I-LOC", "O", "B-X"]) == [Span(3, 5, "LOC")]
    assert spans_from_tags(text, offsets, ["B-DAT", "I-DAT", "I-LOC", None]) == [Span(0, 5, "DAT"), Span(6, 7, "LOC")]


def test_truncation_is_counted_as_lost_entities():
    text = "東京と大阪"
    offsets = [(0, 2), (2, 3), (3, 5)]
    trip = round_trip(text, offsets, [Span(0, 2, "LOC"), Span(3, 5, "LOC")], kept=2)
    assert (trip.gold, trip.exact, trip.truncated) == (2, 1, 1)
    assert trip.ceiling == 0.5


@pytest.fixture(scope="module")
def tokenizers(rinna_dir, jmed_dir, manbyo_dic):
    return {"sentencepiece": load_tokenizer(rinna_dir), "mecab": load_tokenizer(jmed_dir, user_dicts=[manbyo_dic])}


REAL_CASES = [
    # (family, text, entity (start, end, type) in the ORIGINAL text, recovered exactly)
    ("sentencepiece", "東京は日本の首都である。", (0, 2, "LOC"), True),
    ("mecab", "東京は日本の首都である。", (0, 2, "LOC"), True),
    # "日" alone is inside the piece / word "日本": not representable, whatever the family
    ("sentencepiece", "東京は日本の首都である。", (3, 4, "X"), False),
    ("mecab", "東京は日本の首都である。", (3, 4, "X"), False),
    # rinna lower-cases and NFKC-normalizes, JMedRoBERTa converts to full-width: offsets stay in the original
    ("sentencepiece", "ＮＨＫで東京のニュースを見た", (4, 6, "LOC"), True),
    ("mecab", "NHKで東京のニュースを見た", (4, 6, "LOC"), True),
    # a disease name from the user dictionary is one MeCab word
    ("mecab", "この患者は糖尿病性腎症と診断された。", (5, 11, "DIS"), True),
    # spaces: rinna's word-start pieces cover them, the entity does not
    ("sentencepiece", "今日 東京 に行く", (3, 5, "LOC"), True),
    ("mecab", "今日 東京 に行く", (3, 5, "LOC"), True),
]


@pytest.mark.parametrize("family, text, entity, exact", REAL_CASES)
def test_real_tokenizer_offsets_round_trip(tokenizers, family, text, entity, exact):
    encoding = tokenizers[family].encode(text)
    span = Span(*entity)
    tags = tags_for_pieces(text, encoding.offsets, [span])
    assert sum(t is not None and t.startswith("B-") for t in tags) == 1  # the entity reaches the pieces
    recovered = spans_from_tags(text, encoding.offsets, tags)
    assert (recovered == [span]) is exact
    # Whatever happened, a recovered span covers the entity and stays on the original text.
    (back,) = recovered
    assert back.start <= span.start and back.end >= span.end and back.end <= len(text)
    assert text[back.start : back.end].strip() == text[back.start : back.end]
