"""Property-based fuzzing (Hypothesis) of the corpus readers and cleaning and of both
tokenizer families: arbitrary Unicode (surrogates, controls, combining marks, very long
runs) raises nothing but jaroberta's own errors, and offsets always index the input."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaroberta.corpus.build import BuildConfig, build_corpus
from jaroberta.corpus.clean import _ENDS_SENTENCE_RE, Cleaner, CleanConfig, split_sentences
from jaroberta.corpus.readers import PARSERS, ReadConfig, parse_chunk
from jaroberta.corpus.wrapping import join_wrapped_lines
from jaroberta.errors import JarobertaError
from jaroberta.text import TokenizerTrainConfig, train_tokenizer

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
"""Few examples: the default suite stays fast; each run still draws new ones."""

TRICKY = [
    "\ud800", "\udfff", "\udc80",  # lone surrogates (JSON escapes make them)
    "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\r", "\t", "\n", "\n\n", "\ufeff", "\u200b", "\u200d",
    "\u0301", "\u3099", "\u309a", "\u20dd", "\ufe0f",  # combining marks, variation selector
    "ｶﾞ", "ﾊﾟ", "ｰ", "①", "㍻", "ﬁ", "Å", "ß", "İ", "ǅ",  # NFKC / case changes the length
    "[MASK]", "[mask]", "[CLS]", "<unk>", "▁", "##", "。", "「", "」", " ", "\u3000",
    "👍🏻", "👨\u200d👩\u200d👧", "🇯🇵", "\U0010ffff", "\uffff", "\U000e0001",
    "日本", "東京都", "患者", "診断", "ALS", "abc", "123",
]

characters = st.one_of(st.characters(exclude_categories=[]), st.sampled_from(TRICKY))
texts = st.one_of(
    st.lists(characters, max_size=40).map("".join),
    st.tuples(st.sampled_from(TRICKY + ["あ", "a", " "]), st.integers(200, 3000)).map(lambda cn: cn[0] * cn[1]),  # long runs
    st.lists(st.one_of(characters, st.sampled_from(TRICKY)), max_size=12).map("".join),
)


# -- tokenizers -------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sentencepiece", "mecab-wordpiece"])
def tokenizer(request, tmp_path_factory, ja_sentences):
    corpus = tmp_path_factory.mktemp("fuzz") / "sentences.txt"
    corpus.write_text("\n".join(ja_sentences) + "\n", encoding="utf-8")
    extra = {"min_frequency": 1} if request.param == "mecab-wordpiece" else {}
    return train_tokenizer(TokenizerTrainConfig(request.param, (corpus,), vocab_size=300, **extra))


def _check_encoding(text, enc):
    assert len(enc.ids) == len(enc.tokens) == len(enc.offsets) == len(enc.word_ids)
    for start, end in enc.offsets:
        assert 0 <= start <= end <= len(text), (text, enc.offsets)
    starts = [start for start, _ in enc.offsets]
    assert starts == sorted(starts), (text, enc.offsets)


@FUZZ
@given(text=texts)
def test_encode_never_crashes_and_offsets_index_the_text(tokenizer, text):
    try:
        enc = tokenizer.encode(text)
    except JarobertaError:
        return
    _check_encoding(text, enc)
    [batched] = tokenizer.encode_batch([text])
    assert batched.ids == enc.ids and batched.offsets == enc.offsets
    assert tokenizer.encode_ids_batch([text]) == [enc.ids]


# -- corpus cleaning and reading ---------------------------------------------------------------
@FUZZ
@given(lines=st.lists(texts, min_size=1, max_size=6), join=st.sampled_from(["auto", "always", "never"]))
def test_cleaning_never_crashes_and_keeps_real_text(lines, join):
    result = Cleaner(CleanConfig(join_lines=join)).clean([lines])
    for document in result.documents:
        for sentence in document:
            assert sentence and sentence == sentence.strip()
            sentence.encode("utf-8")  # written to UTF-8 part files: no lone surrogates
    assert len(result.sentence_hashes) == 8 * sum(map(len, result.documents))


@FUZZ
@given(text=texts)
def test_sentence_split_loses_no_visible_character(text):
    text = text.replace("\ud800", "")
    joined = "".join(split_sentences(text))
    assert [c for c in joined if not c.isspace()] == [c for c in text if not c.isspace()]


@FUZZ
@given(data=st.binary(max_size=3000), fmt=st.sampled_from(sorted(PARSERS)))  # tables: corpus.tables
def test_parsing_arbitrary_bytes_only_counts_problems(data, fmt):
    counts: Counter = Counter()
    for document in parse_chunk(data, fmt, ReadConfig(), counts):
        assert all(isinstance(line, str) for line in document)


@FUZZ
@given(text=texts)
def test_json_records_with_any_text_build(tmp_path_factory, text):
    """JSON escapes can carry lone surrogates and controls into a corpus: cleaned, never a crash."""
    folder = tmp_path_factory.mktemp("jsonl")
    record = json.dumps({"text": f"これは正しい文です。{text}次の文もあります。"})  # ASCII-escaped, surrogates too
    (folder / "in.jsonl").write_text(record + "\n", encoding="utf-8")
    build_corpus(BuildConfig(out=folder / "out", inputs=(folder / "in.jsonl",), progress=False))


@FUZZ
@given(lines=st.lists(texts, min_size=1, max_size=8), mode=st.sampled_from(["auto", "always"]))
def test_joining_lines_loses_no_character(lines, mode):
    text = "\n".join(lines)
    joined, count = join_wrapped_lines(text, mode, _ENDS_SENTENCE_RE)
    assert [c for c in joined if not c.isspace()] == [c for c in text if not c.isspace()]
    assert joined.count("\n") == text.count("\n") - count


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS = {"none": lambda b: b, "gz": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress, "zst": _zstd}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), compress=st.sampled_from(sorted(COMPRESSORS)), cut=st.floats(0.0, 1.0))
def test_building_from_arbitrary_bytes_raises_only_our_errors(tmp_path_factory, data, compress, cut):
    """Random bytes, plain or in a (cut) archive: the build keeps what it can and reports the rest."""
    folder = tmp_path_factory.mktemp("bytes")
    payload = COMPRESSORS[compress]("これは正しい文です。\n\n".encode() + data)
    (folder / "in.txt").write_bytes(payload[: max(1, int(len(payload) * cut))])
    try:
        build_corpus(BuildConfig(out=folder / "out", inputs=(folder / "in.txt",), progress=False))
    except JarobertaError:
        pass
