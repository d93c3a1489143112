"""Normalization: exactly which characters change, and offsets back to the original."""

from __future__ import annotations

import pytest

from jaroberta.text.normalize import JMED_NORMALIZATION, RINNA_NORMALIZATION, Normalization

FULL_WIDTH = [
    ("ABC xyz", "ＡＢＣ ｘｙｚ"),  # ASCII letters; the space is kept
    ("0123456789", "０１２３４５６７８９"),
    ("!#$%&()*+,-./:;<=>?@[]^_`{|}~", "！＃＄％＆（）＊＋，－．／：；＜＝＞？＠［］＾＿｀｛｜｝～"),
    ("ﾃﾞｰﾀ", "データ"),  # half-width katakana, voiced mark composed
    ("ﾊﾟｿｺﾝ", "パソコン"),  # semi-voiced mark
    ("ｱｲｳｴｵ｡｢｣､･", "アイウエオ。「」、・"),
    ("ＡＢＣ漢字ひらがなカタカナ", "ＡＢＣ漢字ひらがなカタカナ"),  # already full-width / non-ASCII: unchanged
    ("\u3000a", "\u3000ａ"),
    ("😀é", "😀é"),
    ("", ""),
]

LOWER = [
    ("ABC", "abc"),
    ("ＡＢＣ", "ａｂｃ"),  # full-width letters lower-case too (nmt_nfkc folds them later)
    ("Tokyo 2020", "tokyo 2020"),
    ("日本語", "日本語"),
    ("ΣΑΣ", "σασ"),  # segment-wise: no final-sigma context rule
]

NFKC = [
    ("ＡＢＣ１２３", "ABC123"),
    ("ﾃﾞｰﾀ", "データ"),
    ("㈱", "(株)"),
    ("\u3000", " "),
]


@pytest.mark.parametrize("text, expected", FULL_WIDTH)
def test_full_width(text, expected):
    assert JMED_NORMALIZATION(text) == expected


@pytest.mark.parametrize("text, expected", LOWER)
def test_lowercase(text, expected):
    assert RINNA_NORMALIZATION(text) == expected


@pytest.mark.parametrize("text, expected", NFKC)
def test_nfkc(text, expected):
    assert Normalization(nfkc=True)(text) == expected


ALL = [
    RINNA_NORMALIZATION,
    JMED_NORMALIZATION,
    Normalization(lowercase=True, full_width=True),
    Normalization(nfkc=True),
    Normalization(nfkc=True, lowercase=True, full_width=True),
]


@pytest.mark.parametrize("norm", ALL, ids=lambda n: n.describe())
@pytest.mark.parametrize("text", [t for t, _ in FULL_WIDTH + LOWER + NFKC] + ["İstanbul ﾃﾞｰﾀ ＡＢＣ abc"])
def test_fast_path_equals_offsets_path(norm, text):
    """The whole-string fast path and the per-character offset path must agree."""
    normalized, origin = norm.normalize_with_offsets(text)
    assert norm(text) == normalized
    assert len(origin) == len(normalized)
    assert origin == sorted(origin)
    assert all(0 <= i < len(text) for i in origin)


BATCHES = [
    ["ABC", "abc", "日本語"],  # nothing composes: the one-pass path
    ["ΣΑΣ", "ABC"],  # sigma: segment-wise for lower-casing
    ["ﾃﾞｰﾀ", "ABC", "ΣΑΣ"],  # half-width kana: segment-wise for full-width conversion
    [t for t, _ in FULL_WIDTH + LOWER + NFKC],
    ["x"],
    [],
]


@pytest.mark.parametrize("norm", ALL + [Normalization()], ids=lambda n: n.describe())
@pytest.mark.parametrize("texts", BATCHES)
def test_batch_equals_one_by_one(norm, texts):
    assert norm.batch(texts) == [norm(t) for t in texts]


@pytest.mark.parametrize(
    "text, norm, char, original",
    [
        ("aﾃﾞb", JMED_NORMALIZATION, "デ", "ﾃ"),  # composed char points at the base kana
        ("xＡy", RINNA_NORMALIZATION, "ａ", "Ａ"),
        ("a㈱", Normalization(nfkc=True), "株", "㈱"),
    ],
)
def test_offsets_point_back_to_the_original(text, norm, char, original):
    normalized, origin = norm.normalize_with_offsets(text)
    assert text[origin[normalized.index(char)]] == original


def test_round_trip_dict():
    for norm in ALL:
        assert Normalization.from_dict(norm.to_dict()) == norm
    with pytest.raises(ValueError):
        Normalization.from_dict({"nfkc": True, "zenkaku": True})
