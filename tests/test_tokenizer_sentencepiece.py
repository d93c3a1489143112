"""The SentencePiece family (rinna layout): the real model card example, a trained layout,
the literal-mask rule, offsets, bad input, saving and loading, pickling."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest

from jaroberta.api import train_tokenizer
from jaroberta.model.families import RINNA
from jaroberta.text import SentencePieceTokenizer, TokenizerTrainConfig, load_tokenizer
from jaroberta.text.base import SIDECAR, JaTokenizer

CARD_TEXT = "4年に1度オリンピックは開かれる。"
CARD_TOKENS = ["[CLS]", "▁4", "年に", "1", "度", "オリンピック", "は", "開かれる", "。"]
CARD_MASKED_IDS = [4, 1602, 44, 24, 368, 6, 11, 21583, 8]


@pytest.fixture(scope="module")
def rinna(shared_dir) -> SentencePieceTokenizer:
    return load_tokenizer(shared_dir / "reference" / "rinna" / "google_sp.model")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, ja_sentences) -> SentencePieceTokenizer:
    corpus = tmp_path_factory.mktemp("corpus") / "sentences.txt"
    corpus.write_text("\n".join(ja_sentences) + "\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("sp")
    return train_tokenizer(TokenizerTrainConfig("sentencepiece", (corpus,), out=out, vocab_size=300))


# -- rinna's real model -----------------------------------------------------------------
def test_rinna_card_example_exact(rinna):
    enc = rinna.encode(CARD_TEXT)
    framed = RINNA.frame(enc.ids, rinna.token_to_id)
    assert [rinna.id_to_token(i) for i in framed] == CARD_TOKENS
    framed[5] = rinna.token_to_id("[MASK]")
    assert framed == CARD_MASKED_IDS


# rinna's card protocol: tokenize the sentence with a word in the mask's place, then replace
# that word's piece by [MASK]. The filler 本 is one piece (`▁本` after a space, `本` inside a
# word) in each of these sentences; a typed [MASK] must give the same ids, whitespace included.
CARD_PROTOCOL_CASES = [
    "calc [MASK] writer",
    "calc [MASK]writer",
    "[MASK] writer",
    "度[MASK] は",
    "東京は日本の[MASK]である。",
    "a [MASK]\twriter",
    "[MASK]\u3000全角",
    "hello world の [MASK] です",
    "今日は [MASK] です",
    "word [MASK]. next",
    "[MASK] [MASK]",
    "4年に1度[MASK]は開かれる。",
]


@pytest.mark.parametrize("text", CARD_PROTOCOL_CASES)
def test_typed_mask_follows_the_card_protocol(rinna, shared_dir, text):
    import sentencepiece as spm

    reference = spm.SentencePieceProcessor(model_file=str(shared_dir / "reference" / "rinna" / "google_sp.model"))
    pieces = reference.encode(text.replace("[MASK]", "本").lower(), out_type=str)  # rinna lower-cases
    assert sum(p in ("▁本", "本") for p in pieces) == text.count("[MASK]")  # the filler is one piece each time
    expected = [rinna.token_to_id("[MASK]") if p in ("▁本", "本") else reference.piece_to_id(p) for p in pieces]
    assert rinna.encode(text).ids == expected


def test_typed_mask_keeps_the_word_start_after_a_space(rinna):
    """The issue's example: `calc [MASK] writer` frames `▁w` (3266), not `w` (390)."""
    assert rinna.encode("calc [MASK] writer").ids[3] == 3266
    assert rinna.encode("calc [MASK]writer").ids[3] == 390


def test_rinna_literal_mask_equals_mask_after_tokenization(rinna):
    """Typing [MASK] gives the same ids as replacing a piece id: no fresh `▁` after it."""
    enc = rinna.encode("4年に1度[MASK]は開かれる。")
    assert enc.tokens == ["▁4", "年に", "1", "度", "[MASK]", "は", "開かれる", "。"]
    assert RINNA.frame(enc.ids, rinna.token_to_id) == CARD_MASKED_IDS


@pytest.mark.parametrize("variant", ["ABC", "abc", "ＡＢＣ", "Abc"])
def test_rinna_lowercasing_applied(rinna, variant):
    assert rinna.encode(variant).ids == rinna.encode("abc").ids


def test_rinna_layout_ids(rinna):
    assert rinna.special_ids == {"unk": 0, "bos": 1, "eos": 2, "pad": 3, "cls": 4, "sep": 5, "mask": 6}
    assert rinna.vocab_size == 32000


def test_rinna_hf_folder_loads(rinna, shared_dir, tmp_path):
    """rinna's Hugging Face layout (google_sp.model, no sidecar) is detected, with lower-casing."""
    shutil.copy(shared_dir / "reference" / "rinna" / "google_sp.model", tmp_path / "spiece.model")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}), encoding="utf-8")
    tok = load_tokenizer(tmp_path)
    assert tok.tokenizer_kind == "sentencepiece"
    assert tok.encode("ABC" + CARD_TEXT).ids == rinna.encode("abc" + CARD_TEXT).ids


# -- a trained tokenizer ----------------------------------------------------------------
def test_trained_layout_ids_0_to_6(trained):
    assert [trained.id_to_token(i) for i in range(7)] == ["<unk>", "<s>", "</s>", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    assert isinstance(trained, JaTokenizer)


def test_trained_saves_rinna_layout_and_reloads(trained, tmp_path):
    trained.save(tmp_path)
    assert {"spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", SIDECAR} <= {
        p.name for p in tmp_path.iterdir()
    }
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    # T5Tokenizer would rebuild the pipeline from spiece.model (unknown -> </s>, </s> appended).
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and config["do_lower_case"] is True
    again = load_tokenizer(tmp_path)
    assert again.fingerprint == trained.fingerprint
    assert again.encode(CARD_TEXT).ids == trained.encode(CARD_TEXT).ids


@pytest.mark.parametrize("text", [CARD_TEXT, "ABCは大文字😀", "ﾃﾞｰﾀの[MASK]を見る", "[MASK]", "  空白  の  文  "])
def test_trained_folder_gives_the_same_ids_in_auto_tokenizer(trained, tmp_path, text):
    """The README's promise: AutoTokenizer on a folder we write gives [CLS] + our ids."""
    from transformers import AutoTokenizer

    trained.save(tmp_path)
    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    assert hf(text)["input_ids"] == [trained.token_to_id("[CLS]"), *trained.encode(text).ids]


@pytest.mark.parametrize(
    "text, expected_pieces",
    [
        ("[MASK]", ["[MASK]"]),
        ("[MASK][MASK]", ["[MASK]", "[MASK]"]),
        ("度[MASK]", ["▁", "度", "[MASK]"]),
    ],
)
def test_trained_literal_mask(trained, text, expected_pieces):
    enc = trained.encode(text)
    assert enc.tokens == expected_pieces
    assert enc.ids.count(trained.special_ids["mask"]) == text.count("[MASK]")


def test_mask_continuation_has_no_dummy_prefix(trained, ja_sentences):
    """The part after a literal mask continues the sentence: same pieces as unmasked."""
    for sentence in ja_sentences[:10]:
        plain = trained.encode(sentence)
        cut = plain.offsets[len(plain) // 2]
        masked_text = sentence[: cut[0]] + "[MASK]" + sentence[cut[1]:]
        expected = list(plain.ids)
        expected[len(plain) // 2] = trained.special_ids["mask"]
        assert trained.encode(masked_text).ids == expected, sentence


@pytest.mark.parametrize("special, role", [("[CLS]", "cls"), ("[SEP]", "sep"), ("[PAD]", "pad"), ("</s>", "eos")])
def test_other_special_strings_are_ordinary_text(trained, special, role):
    enc = trained.encode(f"今日{special}天気")
    assert trained.special_ids[role] not in enc.ids
    assert len(enc) > 3


OFFSET_TEXTS = [
    "4年に1度オリンピックは開かれる。",
    "ﾃﾞｰﾀを保存する",  # half-width katakana
    "ABC と ＡＢＣ と abc",  # half-width and full-width ASCII, spaces
    "  前後に空白  ",
    "絵文字😀も入る",
    "İstanbul",  # lower-casing lengthens the text
]


@pytest.mark.parametrize("text", OFFSET_TEXTS)
def test_offsets_slice_back_to_the_original(trained, text):
    enc = trained.encode(text)
    assert len(enc.offsets) == len(enc.ids) == len(enc.word_ids)
    for (start, end), token in zip(enc.offsets, enc.tokens):
        assert 0 <= start <= end <= len(text)
        piece = token.lstrip("▁")
        if piece and token != "<unk>":
            # The original slice normalizes to the piece (lower-case + NFKC inside SentencePiece).
            import unicodedata

            assert unicodedata.normalize("NFKC", text[start:end].lower()).strip() == piece, (token, text[start:end])
    assert enc.word_ids == sorted(enc.word_ids)


def test_word_ids_follow_word_starts(trained):
    enc = trained.encode("今日 は 晴れ")
    starts = [i for i, t in enumerate(enc.tokens) if t.startswith("▁")]
    assert len(set(enc.word_ids)) == len(starts)


@pytest.mark.parametrize("text", ["", " ", "   ", "\u3000"])
def test_empty_and_blank(trained, text):
    enc = trained.encode(text)
    assert enc.ids == [] or all(t.strip("▁") == "" for t in enc.tokens)


def test_unknowns_are_counted(trained):
    enc = trained.encode("😀と𠀋")
    assert enc.unknown == enc.ids.count(trained.special_ids["unk"]) >= 2


def test_long_text_not_truncated(trained, ja_sentences):
    text = "".join(ja_sentences) * (100_000 // len("".join(ja_sentences)) + 1)
    text = text[:100_000]
    enc = trained.encode(text)
    assert enc.offsets[-1][1] == len(text)
    assert len(enc) > 512


def test_batch_fast_path_equals_encode(trained, ja_sentences):
    texts = ja_sentences + ["", "ABC[MASK]def", "😀"]
    assert trained.encode_ids_batch(texts, workers=2) == [trained.encode(t).ids for t in texts]
    assert [e.ids for e in trained.encode_batch(texts)] == [trained.encode(t).ids for t in texts]


def test_pickles_for_workers(trained):
    clone = pickle.loads(pickle.dumps(trained))
    assert clone.fingerprint == trained.fingerprint
    assert clone.encode(CARD_TEXT).ids == trained.encode(CARD_TEXT).ids


def test_decode_round_trip(trained):
    assert trained.decode(trained.encode("今日は天気が良い。").ids) == "今日は天気が良い。"
    assert trained.decode(trained.encode("今日は[MASK]が良い。").ids) == "今日は[MASK]が良い。"
