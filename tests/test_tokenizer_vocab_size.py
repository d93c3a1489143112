"""`tokenizer train --vocab-size` against what the corpus allows: a clear error below the
minimum, a warning and a recorded note when the vocabulary comes out another size."""

from __future__ import annotations

import json
import logging

import pytest

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.text.training import TRAIN_REPORT, TokenizerTrainConfig, check_corpus_holds, train_tokenizer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ja_sentences):
    path = tmp_path_factory.mktemp("corpus") / "sentences.txt"
    path.write_text("\n".join(ja_sentences) + "\n", encoding="utf-8")
    return path


def test_sentencepiece_below_the_corpus_minimum_names_the_minimum(corpus, tmp_path, capsys):
    assert main(["tokenizer", "train", str(corpus), str(tmp_path / "sp"), "--family", "rinna", "--vocab-size", "100"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [err] = [line for line in err.splitlines() if "error:" in line]  # the progress bar aside
    needed = int(err.split("at least ")[1].split()[0])
    assert "--vocab-size 100" in err and needed > 100
    # the number said is the real minimum: it trains, one less does not
    train_tokenizer(TokenizerTrainConfig("sentencepiece", (corpus,), vocab_size=needed))
    with pytest.raises(JarobertaError, match=f"at least {needed} pieces"):
        train_tokenizer(TokenizerTrainConfig("sentencepiece", (corpus,), vocab_size=needed - 1))


@pytest.mark.parametrize("family, extra", [("sentencepiece", {}), ("mecab-wordpiece", {"min_frequency": 1})])
def test_vocabulary_that_shrinks_is_warned_and_recorded(corpus, tmp_path, caplog, family, extra):
    out = tmp_path / family
    with caplog.at_level(logging.WARNING):
        tokenizer = train_tokenizer(TokenizerTrainConfig(family, (corpus,), out=out, vocab_size=30000, **extra))
    assert tokenizer.vocab_size < 30000
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "shrank from the 30,000 asked" in warning and f"{tokenizer.vocab_size:,}" in warning
    report = json.loads((out / TRAIN_REPORT).read_text(encoding="utf-8"))
    assert report["vocab_size_asked"] == 30000 and report["vocab_size"] == tokenizer.vocab_size
    assert report["notes"] == [warning.removeprefix("warning: ")]


def test_wordpiece_larger_than_asked_is_warned_with_what_the_corpus_needs(corpus, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        tokenizer = train_tokenizer(TokenizerTrainConfig("mecab-wordpiece", (corpus,), out=tmp_path / "wp", vocab_size=50))
    assert tokenizer.vocab_size > 50
    assert any("needs at least that many" in r.getMessage() and f"{tokenizer.vocab_size:,}" in r.getMessage()
               for r in caplog.records)


def test_exact_size_has_no_note(corpus, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        train_tokenizer(TokenizerTrainConfig("sentencepiece", (corpus,), out=tmp_path / "sp", vocab_size=300))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert json.loads((tmp_path / "sp" / TRAIN_REPORT).read_text(encoding="utf-8"))["notes"] == []


def test_tokenizer_info_shows_the_note(corpus, tmp_path, capsys):
    train_tokenizer(TokenizerTrainConfig("sentencepiece", (corpus,), out=tmp_path / "sp", vocab_size=5000))
    capsys.readouterr()
    assert main(["tokenizer", "info", str(tmp_path / "sp")]) == 0
    assert "training note" in capsys.readouterr().out


@pytest.mark.parametrize("family", ["sentencepiece", "mecab-wordpiece"])
@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_corpus_without_text_is_a_clear_error(tmp_path, family, content):
    (tmp_path / "empty.txt").write_text(content, encoding="utf-8")
    with pytest.raises(JarobertaError, match="no text to train on"):
        train_tokenizer(TokenizerTrainConfig(family, (tmp_path / "empty.txt",), out=tmp_path / "tok"))
    assert not (tmp_path / "tok").exists()


# (vocabulary size, what the refusal names): past int32 ids, or past what a tiny corpus can fill
@pytest.mark.parametrize("size, says", [
    (2**31, "at most 2,147,483,647 pieces"),
    (2**40, "at most 2,147,483,647 pieces"),
    (2**31 - 1, "can fill"),  # used to run for minutes with no output
    (10**9, "can fill"),  # used to abort out of memory inside the WordPiece trainer
])
@pytest.mark.parametrize("family", ["rinna", "jmedroberta"])
def test_absurd_vocabulary_size_is_refused_up_front_with_the_numbers(corpus, tmp_path, capsys, family, size, says):
    assert main(["tokenizer", "train", str(corpus), str(tmp_path / "tok"), "--family", family, "--vocab-size", str(size)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and says in err and f"{size:,}" in err
    if says == "can fill":  # the corpus's size and the largest vocabulary it holds are both said
        text_bytes = corpus.stat().st_size
        assert f"{text_bytes:,} bytes" in err and f"{16 * text_bytes + 16:,}" in err
    assert not (tmp_path / "tok").exists()


def test_largest_size_the_corpus_holds_is_not_refused(corpus):
    most = 16 * corpus.stat().st_size + 16
    check_corpus_holds(TokenizerTrainConfig("sentencepiece", (corpus,), vocab_size=most))  # training would shrink it, with a warning
    with pytest.raises(JarobertaError, match="can fill"):
        check_corpus_holds(TokenizerTrainConfig("sentencepiece", (corpus,), vocab_size=most + 1))


@pytest.mark.parametrize("content, offset", [
    ("日本語の文です。\n".encode() * 3 + b"\x89PNG\r\n\x1a\n" + bytes(range(256)), 3 * len("日本語の文です。\n".encode())),
    (b"ELF\x00\x01\x02binary", 3),  # NUL bytes: valid UTF-8, but not text
    ("日本語".encode("shift_jis") + b"\n", 0),
])
@pytest.mark.parametrize("family", ["rinna", "jmedroberta"])
def test_binary_corpus_names_the_file_and_the_byte(tmp_path, capsys, family, content, offset):
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    assert main(["tokenizer", "train", str(path), str(tmp_path / "tok"), "--family", family, "--vocab-size", "50"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "UnicodeDecodeError" not in err
    [line] = [line for line in err.splitlines() if "error:" in line]
    assert str(path) in line and f"at byte {offset:,}" in line
