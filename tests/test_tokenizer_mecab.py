"""The MeCab + WordPiece family (JMedRoBERTa layout): identical ids to Hugging Face's
BertJapaneseTokenizer on our folder, the literal-mask rule, offsets, word ids, user
dictionaries recorded by name and hash, bad input, pickling."""

from __future__ import annotations

import json
import pickle

import pytest

from jaroberta.api import train_tokenizer
from jaroberta.errors import JarobertaError
from jaroberta.text import MecabWordPieceTokenizer, TokenizerTrainConfig, load_tokenizer, userdict
from jaroberta.text.base import SIDECAR, JaTokenizer

DISEASE = "糖尿病性腎症"  # IPAdic: 糖尿 / 病 / 性 / 腎 / 症


@pytest.fixture(autouse=True)
def _no_ambient_dictionaries(monkeypatch, tmp_path):
    """Neither the user's cache nor their $JAROBERTA_DICT_PATH may leak into a test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(userdict.DICT_PATH_ENV, raising=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ja_sentences):
    path = tmp_path_factory.mktemp("corpus") / "sentences.txt"
    extra = [f"患者は{DISEASE}と診断された。", f"{DISEASE}の治療を始めた。", "ABCとｶﾀｶﾅを含む文。"]
    path.write_text("\n".join(ja_sentences + extra) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory, corpus):
    out = tmp_path_factory.mktemp("mecab_wp")
    train_tokenizer(TokenizerTrainConfig("mecab-wordpiece", (corpus,), out=out, vocab_size=400, min_frequency=1))
    return out


@pytest.fixture(scope="module")
def tok(folder) -> MecabWordPieceTokenizer:
    return load_tokenizer(folder)


@pytest.fixture(scope="module")
def hf(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def test_layout(tok, folder):
    assert isinstance(tok, JaTokenizer)
    assert [tok.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "BertJapaneseTokenizer"
    assert config["word_tokenizer_type"] == "mecab" and config["subword_tokenizer_type"] == "wordpiece"
    assert config["do_lower_case"] is False
    assert config["mecab_kwargs"] == {"mecab_dic": "ipadic", "normalize_text": False}
    assert (folder / SIDECAR).exists()


def test_autotokenizer_gives_identical_ids(tok, hf, ja_sentences):
    """HF gets the text *already full-width converted by us* (it does not normalize:
    normalize_text false, as JMedRoBERTa's card says); jaroberta gets the raw text."""
    assert type(hf).__name__ == "BertJapaneseTokenizer"
    sample = ja_sentences + ["ABCとｶﾀｶﾅ、全角ＡＢＣ。", "空白 を\u3000含む 文", "😀絵文字", "x" * 150, ""]
    for text in sample:
        theirs = hf(tok.normalization(text), add_special_tokens=False)["input_ids"]
        assert tok.encode(text).ids == theirs, text
    assert tok.encode_ids_batch(sample) == [hf(tok.normalization(t), add_special_tokens=False)["input_ids"] for t in sample]


def test_literal_mask_both_ways(tok, hf):
    """[MASK] typed in text: split out before normalization (else it would become ［ＭＡＳＫ］),
    one word of its own; BertJapaneseTokenizer's added-token split agrees."""
    text = "この患者は[MASK]と診断された。"
    enc = tok.encode(text)
    mask = tok.special_ids["mask"]
    assert enc.ids.count(mask) == 1
    at = enc.ids.index(mask)
    assert enc.offsets[at] == (5, 11) and text[5:11] == "[MASK]"
    assert enc.word_ids[at] not in enc.word_ids[:at] + enc.word_ids[at + 1 :]
    left, right = text.split("[MASK]")
    theirs = hf(tok.normalization(left) + "[MASK]" + tok.normalization(right), add_special_tokens=False)["input_ids"]
    assert enc.ids == theirs


@pytest.mark.parametrize("special", ["[CLS]", "[SEP]", "[PAD]", "[UNK]"])
def test_other_special_strings_are_ordinary_text(tok, special):
    enc = tok.encode(f"今日{special}天気")
    assert tok.special_ids[special.strip("[]").lower()] not in enc.ids or special == "[UNK]"
    assert "[MASK]" not in enc.tokens


OFFSET_TEXTS = [
    "4年に1度オリンピックは開かれる。",
    "ﾃﾞｰﾀを保存する",
    "ABC と ＡＢＣ と abc",
    "  前後に空白\u3000あり  ",
    "絵文字😀も入る",
]


@pytest.mark.parametrize("text", OFFSET_TEXTS)
def test_offsets_slice_back_to_the_original(tok, text):
    enc = tok.encode(text)
    assert len(enc.offsets) == len(enc.ids) == len(enc.word_ids)
    for (start, end), token in zip(enc.offsets, enc.tokens):
        assert 0 <= start < end <= len(text)
        if token != "[UNK]":
            assert tok.normalization(text[start:end]) == token.removeprefix("##"), (token, text[start:end])
    assert enc.word_ids == sorted(enc.word_ids)


def test_word_ids_group_subwords(tok):
    enc = tok.encode("開かれる")
    for i, token in enumerate(enc.tokens):
        if token.startswith("##"):
            assert enc.word_ids[i] == enc.word_ids[i - 1]


@pytest.mark.parametrize("text", ["", " ", "   ", "\u3000\u3000"])
def test_empty_and_blank(tok, text):
    assert tok.encode(text).ids == []


def test_unknowns_are_counted(tok):
    enc = tok.encode("😀と𠀋")
    assert enc.unknown == enc.ids.count(tok.special_ids["unk"]) == 2


def test_long_text_not_truncated(tok, ja_sentences):
    text = ("".join(ja_sentences) * 80)[:100_000]
    enc = tok.encode(text)
    assert enc.offsets[-1][1] == len(text)
    assert tok.encode_ids_batch([text])[0] == enc.ids


def test_workers_give_the_same_ids(tok, ja_sentences, monkeypatch):
    from jaroberta.text import wordpiece

    texts = ja_sentences * 3
    monkeypatch.setattr(wordpiece, "MIN_TEXTS_PER_WORKER", 10)  # small batches, real processes
    assert tok.encode_ids_batch(texts, workers=2) == tok.encode_ids_batch(texts)
    assert [e.ids for e in tok.encode_batch(texts[:40], workers=2)] == tok.encode_ids_batch(texts[:40])


def test_pickles_for_workers(tok):
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.fingerprint == tok.fingerprint
    assert clone.encode("今日は天気が良い。").ids == tok.encode("今日は天気が良い。").ids


# -- the MeCab word splitter --------------------------------------------------------------
SEGMENTATION = [
    # (system dictionary, text, words as BertJapaneseTokenizer's WordPiece sees them)
    ("ipadic", "日本語を勉強する", ["日本語", "を", "勉強", "する"]),
    ("unidic-lite", "日本語を勉強する", ["日本", "語", "を", "勉強", "する"]),
    ("ipadic", "形態素解析", ["形態素", "解析"]),
    ("unidic-lite", "形態素解析", ["形態", "素", "解析"]),
    # MeCab skips ASCII spaces, tabs and newlines; U+3000 and CR come back as words, then dropped.
    ("ipadic", "\tタブ\r\n改行 と\u3000全角空白", ["タブ", "改行", "と", "全角", "空白"]),
    # MeCab reads C strings: a NUL would end the text; it is read as a space instead.
    ("ipadic", "前\x00後も残る", ["前", "後", "も", "残る"]),
    ("ipadic", "", []),
]


@pytest.mark.parametrize("system_dict,text,expected", SEGMENTATION)
def test_splitter_segmentation(system_dict, text, expected):
    from jaroberta.text.mecab import MecabConfig, MecabWordSplitter

    splitter = MecabWordSplitter(MecabConfig(system_dict))
    assert splitter.split(text) == expected
    assert splitter.split(text) == [w for s in splitter.surfaces(text) for w in s.split()]


@pytest.mark.parametrize("text", [t for _, t, _ in SEGMENTATION] + ["  先頭と末尾に空白  ", "ＡＢＣ abc\u3000ｱｲｳ"])
def test_splitter_offsets_slice_back(text):
    from jaroberta.text.mecab import MecabWordSplitter

    splitter = MecabWordSplitter()
    covered = set()
    for surface, start, end in splitter.words(text):
        assert text[start:end] == surface
        covered.update(range(start, end))
    # What MeCab did not return is only what it skips: whitespace (and the NUL we turned into one).
    assert all(text[i].isspace() or text[i] == "\x00" for i in set(range(len(text))) - covered)
    with_offsets = splitter.split_with_offsets(text)
    assert [w for w, _, _ in with_offsets] == splitter.split(text)
    assert all(text[b:e] == w for w, b, e in with_offsets)


def test_splitter_pickles_and_rebuilds_its_tagger():
    from jaroberta.text.mecab import MecabConfig, MecabWordSplitter

    splitter = MecabWordSplitter(MecabConfig("unidic-lite"))
    clone = pickle.loads(pickle.dumps(splitter))
    assert clone.config == splitter.config and clone._tagger is not splitter._tagger
    assert clone.split("日本語を勉強する") == splitter.split("日本語を勉強する")


@pytest.mark.parametrize(
    "config,message",
    [
        ({"system_dict": "juman"}, "unknown MeCab system dictionary"),
        ({"user_dicts": ("/tmp/a,b.dic",)}, "contains a comma"),
        ({"user_dicts": ("/nonexistent/x.dic",)}, "does not exist; build one with `jaroberta dict build"),
    ],
)
def test_splitter_config_errors(config, message):
    from jaroberta.text.mecab import MecabConfig, MecabWordSplitter

    with pytest.raises(JarobertaError, match=message):
        MecabWordSplitter(MecabConfig(**config))


# -- user dictionaries ------------------------------------------------------------------


@pytest.fixture(scope="module")
def disease_dic(tmp_path_factory):
    out = tmp_path_factory.mktemp("dic") / "diseases.dic"
    userdict.build_user_dictionary([DISEASE], out)
    return out


@pytest.fixture(scope="module")
def dict_folder(tmp_path_factory, corpus, disease_dic):
    out = tmp_path_factory.mktemp("mecab_wp_dic")
    config = TokenizerTrainConfig("mecab-wordpiece", (corpus,), out=out, vocab_size=400, min_frequency=1, user_dicts=(disease_dic,))
    train_tokenizer(config)
    return out


def test_disease_stays_one_word_with_user_dictionary(tok, dict_folder):
    with_dict = load_tokenizer(dict_folder)
    enc = with_dict.encode(f"患者は{DISEASE}と診断された。")
    start = 3
    words = {w for (s, e), w in zip(enc.offsets, enc.word_ids) if start <= s < start + len(DISEASE)}
    assert len(words) == 1
    without = tok.encode(f"患者は{DISEASE}と診断された。")
    assert len({w for (s, e), w in zip(without.offsets, without.word_ids) if start <= s < start + len(DISEASE)}) > 1


def test_dictionary_recorded_by_name_and_hash(dict_folder, disease_dic):
    sidecar = json.loads((dict_folder / SIDECAR).read_text(encoding="utf-8"))
    assert sidecar["dictionaries"] == [{"name": "diseases.dic", "sha256": userdict.file_sha256(disease_dic)}]
    assert (dict_folder / "diseases.dic").exists()


def test_folder_moves_with_its_dictionary(dict_folder, tmp_path):
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(dict_folder, moved)
    assert load_tokenizer(moved).fingerprint == load_tokenizer(dict_folder).fingerprint


def test_missing_user_dictionary_is_a_clear_error(dict_folder, tmp_path, disease_dic):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(dict_folder, broken)
    (broken / "diseases.dic").unlink()
    with pytest.raises(JarobertaError, match="diseases.dic"):
        load_tokenizer(broken)
    assert load_tokenizer(broken, user_dicts=[disease_dic]).encode(DISEASE).ids


def test_dictionary_found_on_the_search_path_and_checked_by_hash(dict_folder, tmp_path, disease_dic, monkeypatch):
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(dict_folder, moved)
    (moved / "diseases.dic").unlink()
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    shutil.copyfile(disease_dic, shelf / "diseases.dic")
    monkeypatch.setenv(userdict.DICT_PATH_ENV, str(shelf))
    assert load_tokenizer(moved).fingerprint == load_tokenizer(dict_folder).fingerprint
    # A same-named dictionary with other content would silently change ids: refused.
    userdict.build_user_dictionary(["別の病名"], moved / "diseases.dic")
    monkeypatch.delenv(userdict.DICT_PATH_ENV)
    with pytest.raises(JarobertaError, match="diseases.dic: found .* differs"):
        load_tokenizer(moved)


def test_published_jmedroberta_layout_loads_with_user_given_dictionary(tmp_path, disease_dic):
    """JMedRoBERTa's tokenizer_config.json names its dictionary by an absolute path of the
    authors' machine; the user supplies the file, matched by name."""
    folder = tmp_path / "jmed"
    folder.mkdir()
    manbyo = tmp_path / "elsewhere" / "MANBYO_201907_Dic-utf8.dic"
    manbyo.parent.mkdir()
    manbyo.write_bytes(disease_dic.read_bytes())
    config = {
        "tokenizer_class": "BertJapaneseTokenizer",
        "do_lower_case": False,
        "word_tokenizer_type": "mecab",
        "subword_tokenizer_type": "wordpiece",
        "mecab_kwargs": {"mecab_dic": "ipadic", "mecab_option": "-u /nonexistent/MANBYO_201907_Dic-utf8.dic", "normalize_text": False},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", DISEASE, "患者", "は", "と", "診断", "さ", "れ", "た", "。"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    with pytest.raises(JarobertaError, match="MANBYO_201907_Dic-utf8.dic"):
        load_tokenizer(folder)
    loaded = load_tokenizer(folder, user_dicts={"MANBYO_201907_Dic-utf8.dic": manbyo})
    assert loaded.tokenizer_kind == "mecab-wordpiece"
    assert loaded.normalization.full_width
    assert loaded.encode(f"患者は{DISEASE}と診断された。").tokens == ["患者", "は", DISEASE, "と", "診断", "さ", "れ", "た", "。"]


def test_unidic_lite_folder_gives_identical_ids_in_autotokenizer(tmp_path, corpus, ja_sentences):
    from transformers import AutoTokenizer

    out = tmp_path / "unidic"
    tok = train_tokenizer(TokenizerTrainConfig("mecab-wordpiece", (corpus,), out=out, vocab_size=400, min_frequency=1,
                                               system_dict="unidic-lite"))
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["mecab_kwargs"]["mecab_dic"] == "unidic_lite"
    hf = AutoTokenizer.from_pretrained(str(out))
    for text in ja_sentences + ["ABCとｶﾀｶﾅ、全角ＡＢＣ。"]:
        assert tok.encode(text).ids == hf(tok.normalization(text), add_special_tokens=False)["input_ids"], text
    assert load_tokenizer(out).system_dict == "unidic-lite"
