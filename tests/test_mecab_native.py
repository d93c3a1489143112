"""MeCab through its C API (ctypes on fugashi's bundled libmecab): the batch parse and the
threads it allows must give exactly the words and ids of the one-text-at-a-time path,
whatever the text, and fall back without losing anything where the native path cannot run."""

from __future__ import annotations

import threading

import pytest

from jaroberta.api import train_tokenizer
from jaroberta.text import TokenizerTrainConfig, load_tokenizer, mecab, userdict
from jaroberta.text.mecab import MecabConfig, MecabWordSplitter
from jaroberta.text.normalize import (
    _FULL_WIDTH_TABLE,
    JMED_NORMALIZATION,
    RINNA_NORMALIZATION,
    Normalization,
    _full_width,
)
from jaroberta.text.wordpiece import _staggered_chunks

DISEASE = "糖尿病性腎症"  # IPAdic: 糖尿 / 病 / 性 / 腎 / 症

TRICKY = [
    "",
    "   ",
    "\u3000",
    "今日は良い天気です。",
    "\tタブ\r\n改行 と\u3000全角空白",  # holds a line break: parsed on its own, never cut in two
    "前\x00後も残る",  # NUL: read as a space
    "ＡＢＣ abc ｱｲｳ 123",
    "絵文字😀と𠮷野家",
    "改行で終わる\n",
    "\n",
    "[MASK]を含む文",
    "東京" * 3000,  # long
]


@pytest.fixture(scope="module", params=["ipadic", "unidic-lite"])
def splitter(request) -> MecabWordSplitter:
    return MecabWordSplitter(MecabConfig(request.param))


def test_fugashis_wheel_gives_the_native_path(splitter):
    """Where this fails, fugashi was not installed from its wheel: everything still works,
    one text at a time, and threads do not help."""
    assert splitter.native_parallel()


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_batch_split_is_the_one_text_split(splitter, text):
    expected = [word for surface in splitter.surfaces(text) for word in surface.split()]
    assert splitter.split(text) == expected
    # Alone, and surrounded by other texts (each line of a batch is its own sentence).
    assert splitter.split_batch([text]) == [expected]
    assert splitter.split_batch(["前の文。", text, "後の文。"])[1] == expected


def test_batch_split_of_a_whole_table_at_once(splitter):
    assert splitter.split_batch(TRICKY * 3) == [splitter.split(t) for t in TRICKY * 3]


def test_batch_with_a_user_dictionary(tmp_path):
    dic = tmp_path / "diseases.dic"
    userdict.build_user_dictionary([DISEASE], dic)
    with_dict = MecabWordSplitter(MecabConfig("ipadic", (str(dic),)))
    texts = [f"患者は{DISEASE}と診断された。", f"{DISEASE}の治療。"]
    assert with_dict.split_batch(texts) == [with_dict.split(t) for t in texts]
    assert DISEASE in with_dict.split_batch(texts)[1]
    assert DISEASE not in MecabWordSplitter().split_batch(texts)[1]


def test_too_long_lines_are_parsed_one_by_one(monkeypatch, splitter):
    monkeypatch.setattr(mecab, "_MAX_BATCH_LINE_CHARS", 8)
    texts = ["短い。", "これは八文字より長い文です。", "短い文。"]
    assert splitter.split_batch(texts) == [splitter.split(t) for t in texts]


def test_a_failed_batch_falls_back_and_loses_nothing(monkeypatch, splitter, caplog):
    monkeypatch.setattr(mecab, "_parse_file", lambda library, argv, texts: None)
    texts = ["今日は良い天気です。", "改行\nを含む", "明日も晴れる。"]
    assert splitter.split_batch(texts) == [splitter.split(t) for t in texts]


def test_parse_file_failure_is_reported(caplog):
    library = mecab._native_library()
    with caplog.at_level("WARNING"):
        assert mecab._parse_file(library, ["-d", "/nonexistent/dicdir"], ["今日"]) is None
    assert "batch parse failed" in caplog.text


def test_without_the_native_library_everything_still_splits(monkeypatch):
    monkeypatch.setattr(mecab, "_native_library", lambda: None)
    fallback = MecabWordSplitter()
    assert not fallback.native_parallel()
    assert fallback.split_batch(TRICKY) == [MecabWordSplitter().split(t) for t in TRICKY]


def test_native_taggers_are_per_thread(splitter):
    texts = [f"{i}番目の文は東京で書かれた。" for i in range(300)]
    expected = [splitter.split(t) for t in texts]
    results: dict[int, list] = {}

    def work(n: int) -> None:
        results[n] = [splitter.split(t) for t in texts]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == expected for result in results.values())


# -- the tokenizer on threads ----------------------------------------------------------
@pytest.fixture(scope="module")
def tok(tmp_path_factory, ja_sentences):
    corpus = tmp_path_factory.mktemp("corpus") / "sentences.txt"
    corpus.write_text("\n".join(ja_sentences) + "\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("mecab_wp")
    train_tokenizer(TokenizerTrainConfig("mecab-wordpiece", (corpus,), out=out, vocab_size=400, min_frequency=1))
    return load_tokenizer(out)


def test_threads_give_the_same_ids_and_encodings(tok, ja_sentences):
    texts = (ja_sentences + TRICKY) * 4
    assert len(texts) >= 2 * 64  # enough for the threads to start
    one_by_one = [tok.encode(t) for t in texts]
    assert tok.encode_ids_batch(texts, workers=2) == [e.ids for e in one_by_one]
    assert tok.encode_ids_batch(texts, workers=1) == [e.ids for e in one_by_one]
    for threaded, single in zip(tok.encode_batch(texts, workers=2), one_by_one, strict=True):
        assert (threaded.ids, threaded.offsets, threaded.word_ids, threaded.unknown) == (
            single.ids, single.offsets, single.word_ids, single.unknown)


def test_concurrent_callers_share_a_tokenizer(tok, ja_sentences):
    texts = ja_sentences * 3
    expected = tok.encode_ids_batch(texts)
    results = []
    threads = [threading.Thread(target=lambda: results.append(tok.encode_ids_batch(texts, workers=2))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 3


@pytest.mark.parametrize("count,workers", [(1, 2), (5, 2), (128, 2), (1000, 2), (20794, 2), (100_000, 3)])
def test_staggered_chunks_cover_every_text_in_order(count, workers):
    chunks = _staggered_chunks(list(range(count)), workers)
    assert [i for chunk in chunks for i in chunk] == list(range(count))
    assert all(chunks)
    if len(chunks) > 2:  # half-size first and last chunks put the threads out of step
        assert 3 * len(chunks[0]) <= 2 * len(chunks[1]) and 3 * len(chunks[-1]) <= 2 * len(chunks[-2])


# -- normalization of whole batches ----------------------------------------------------
@pytest.mark.parametrize("normalization", [JMED_NORMALIZATION, RINNA_NORMALIZATION, Normalization(full_width=True, lowercase=True)])
def test_batch_normalization_is_per_text_normalization(normalization):
    texts = TRICKY + ["ABC\nDEF", "ΣΑΣ", "ｶﾞｷﾞ", "x" * 5000 + "ＡB"]
    assert normalization.batch(texts) == [normalization(t) for t in texts]
    plain = [t for t in texts if not any(c in t for c in "ΣｶﾞｷﾞｱｲｳｱＡＢＣ")]
    assert normalization.batch(plain) == [normalization(t) for t in plain]


@pytest.mark.parametrize("text", ["", "abc", "日本語 ABC ~!", "x" * 3000, ("ｱ半角 A~\ud800日本" * 400)])
def test_vectorised_full_width_is_the_table(text):
    assert _full_width(text) == text.translate(_FULL_WIDTH_TABLE)
