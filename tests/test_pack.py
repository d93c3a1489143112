"""Packing a corpus folder into shards: both layouts frame rows as their seeds did, word ids
travel with the pieces, nothing is dropped silently, and a corpus too small is refused.

The corpus / tokenizer / shards fixtures here are reused by the pretraining tests:

    from test_pack import corpus_dir, shards_dir, tokenizer_dir  # noqa: F401
"""

from __future__ import annotations

import json
import shutil

import random
from pathlib import Path

import numpy as np
import pytest
from conftest import JA_SENTENCES

from jaroberta.api import pack, train_tokenizer
from jaroberta.cli import main
from jaroberta.corpus.layout import iter_documents, write_documents
from jaroberta.corpus.pack import PackConfig
from jaroberta.corpus.shards import NO_WORD_STORED, ShardHeader, open_split
from jaroberta.errors import JarobertaError
from jaroberta.text import TokenizerTrainConfig, load_tokenizer

SEQ_LEN = 48


def write_corpus(directory: Path, train_documents: int = 80, dev_documents: int = 12, seed: int = 0) -> Path:
    """A corpus folder in the layout of `jaroberta corpus build`: documents of 2-4 conftest sentences."""
    rng = random.Random(seed)

    def documents(n):
        return [rng.sample(JA_SENTENCES, rng.randint(2, 4)) for _ in range(n)]

    for split, n in (("train", train_documents), ("dev", dev_documents)):
        (directory / split).mkdir(parents=True, exist_ok=True)
        with open(directory / split / "part-00000.txt", "w", encoding="utf-8") as handle:
            write_documents(handle, documents(n))
    return directory


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def tokenizer_dir(corpus_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(TokenizerTrainConfig(tokenizer_kind="sentencepiece", inputs=(corpus_dir,), out=out, vocab_size=300))
    return out


@pytest.fixture(scope="module")
def shards_dir(corpus_dir, tokenizer_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards")
    pack(PackConfig(corpus=corpus_dir, tokenizer=tokenizer_dir, out=out, max_length=SEQ_LEN, layout="document"))
    return out


@pytest.fixture(scope="module")
def full_shards_dir(corpus_dir, tokenizer_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards-full")
    pack(PackConfig(corpus=corpus_dir, tokenizer=tokenizer_dir, out=out, max_length=SEQ_LEN, layout="full"))
    return out


def _document_pieces(corpus_dir: Path, tokenizer_dir: Path, split: str) -> list[list[int]]:
    tokenizer = load_tokenizer(tokenizer_dir)
    return [[i for ids in tokenizer.encode_ids_batch(doc) for i in ids] for doc in iter_documents(corpus_dir, split)]


def test_document_layout_is_cls_plus_one_truncated_document(shards_dir, corpus_dir, tokenizer_dir):
    header = ShardHeader.load(shards_dir)
    cls, pad = header.special_ids["cls"], header.special_ids["pad"]
    documents = _document_pieces(corpus_dir, tokenizer_dir, "train")
    arrays = open_split(shards_dir, "train", header)
    assert arrays.ids.dtype == np.uint16 and arrays.ids.shape == (len(documents), SEQ_LEN)
    truncated = 0
    for row, pieces in enumerate(documents):
        length = int(arrays.lengths[row])
        expected = [cls] + pieces[: SEQ_LEN - 1]  # rinna: [CLS] + the document, no [SEP], no </s>
        truncated += len(pieces) > SEQ_LEN - 1
        assert arrays.ids[row, :length].tolist() == expected
        assert (arrays.ids[row, length:] == pad).all()
        assert arrays.words[row, 0] == NO_WORD_STORED and (arrays.words[row, length:] == NO_WORD_STORED).all()
    stats = header.splits["train"]
    assert (stats.rows, stats.documents, stats.truncated_documents) == (len(documents), len(documents), truncated)
    assert stats.tokens == int(arrays.lengths.sum())


def test_full_layout_packs_documents_back_to_back(full_shards_dir, corpus_dir, tokenizer_dir):
    header = ShardHeader.load(full_shards_dir)
    cls, sep = header.special_ids["cls"], header.special_ids["sep"]
    arrays = open_split(full_shards_dir, "train", header)
    assert (arrays.lengths[:-1] == SEQ_LEN).all()  # every row but the last is exactly seq_len
    assert (arrays.ids[:, 0] == cls).all()
    # Dropping each row's [CLS] gives back the documents, each followed by [SEP], in order.
    stream = [i for row in range(len(arrays)) for i in arrays.ids[row, 1 : arrays.lengths[row]].tolist()]
    expected = [i for pieces in _document_pieces(corpus_dir, tokenizer_dir, "train") for i in pieces + [sep]]
    assert stream == expected[: len(stream)] and len(expected) - len(stream) <= 1  # a final lone [SEP] is not a row


def test_word_ids_follow_the_tokenizer_words(shards_dir, corpus_dir, tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    document = next(iter_documents(corpus_dir, "train"))
    encodings = tokenizer.encode_batch(document)
    words, base = [], 0
    for enc in encodings:
        words += [base + w for w in enc.word_ids]
        base = words[-1] + 1
    arrays = open_split(shards_dir, "train")
    stored = arrays.words[0, 1 : 1 + len(words)].astype(int).tolist()
    assert stored == words[: SEQ_LEN - 1]
    assert stored[0] == 0  # relative to the row


def test_header_records_the_tokenizer(shards_dir, tokenizer_dir):
    header = ShardHeader.load(shards_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    assert header.tokenizer_fingerprint == tokenizer.fingerprint
    assert load_tokenizer(shards_dir / "tokenizer").fingerprint == tokenizer.fingerprint
    assert header.conventions["prefix"] == ["[CLS]"] and header.conventions["explicit_position_ids"]


@pytest.mark.parametrize(
    "train, dev, message",
    [
        (0, 3, "'train' split has no usable documents"),
        (5, 0, "'dev' split has no usable documents"),
    ],
)
def test_empty_split_refused(tmp_path, tokenizer_dir, train, dev, message):
    corpus = write_corpus(tmp_path / "corpus", train_documents=train, dev_documents=dev)
    with pytest.raises(JarobertaError, match=message):
        pack(PackConfig(corpus=corpus, tokenizer=tokenizer_dir, out=tmp_path / "shards", max_length=SEQ_LEN))


def test_missing_corpus_is_one_clear_line(tmp_path, tokenizer_dir, capsys):
    assert main(["pack", str(tmp_path / "nowhere"), str(tokenizer_dir), str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_pack_command(tmp_path, corpus_dir, tokenizer_dir, capsys):
    out = tmp_path / "shards"
    assert main(["pack", str(corpus_dir), str(tokenizer_dir), str(out), "--max-length", "32", "--layout", "full"]) == 0
    printed = capsys.readouterr().out
    assert "full layout, max length 32" in printed and "% padding" in printed
    header = ShardHeader.load(out)
    assert header.layout == "full" and header.splits["dev"].rows > 0


@pytest.mark.parametrize("family", ["sentencepiece", "mecab-wordpiece"])
def test_literal_mask_in_corpus_text_is_packed_as_text(family, corpus_dir, tmp_path):
    """A document about BERT may contain "[MASK]": training data must hold it as text, never as
    the mask id (the literal rule is for users marking a blank); each one is counted."""
    corpus = tmp_path / "corpus"
    for split, documents in (("train", [["BERT は[MASK]を予測する。", "二つ目の[MASK]と[MASK]。"], ["普通の文です。"]]),
                             ("dev", [["評価用の[MASK]文。"]])):
        (corpus / split).mkdir(parents=True)
        with open(corpus / split / "part-00000.txt", "w", encoding="utf-8") as handle:
            write_documents(handle, documents)
    tokenizer_out = tmp_path / "tokenizer"
    extra = {"min_frequency": 1} if family == "mecab-wordpiece" else {}
    train_tokenizer(TokenizerTrainConfig(tokenizer_kind=family, inputs=(corpus_dir, corpus), out=tokenizer_out, vocab_size=400, **extra))
    tokenizer = load_tokenizer(tokenizer_out)
    out = tmp_path / "shards"
    header = pack(PackConfig(corpus=corpus, tokenizer=tokenizer_out, out=out, max_length=SEQ_LEN, layout="document"))
    assert (header.splits["train"].literal_masks, header.splits["dev"].literal_masks) == (3, 1)
    mask_id = tokenizer.special_ids["mask"]
    for split in ("train", "dev"):
        assert mask_id not in set(open_split(out, split).ids.ravel().tolist())
    # What was packed is the text's own pieces, as the tokenizer makes them of "[mask]" / "［ＭＡＳＫ］".
    replacement = tokenizer.normalization("[MASK]") if family == "mecab-wordpiece" else "[mask]"
    row = open_split(out, "dev").ids[0].tolist()
    expected = tokenizer.encode_ids_batch([f"評価用の{replacement}文。"])[0]
    assert row[1 : 1 + len(expected)] == expected
    assert ShardHeader.load(out).splits["train"].literal_masks == 3


def test_shards_packed_before_tokenizer_kind_still_load(shards_dir, tmp_path):
    """shards.json said "tokenizer_family"; such folders load with the kind under its new name."""
    from jaroberta.corpus.shards import HEADER_FILE, ShardHeader

    data = json.loads((shards_dir / HEADER_FILE).read_text(encoding="utf-8"))
    data["tokenizer_family"] = data.pop("tokenizer_kind")
    (tmp_path / HEADER_FILE).write_text(json.dumps(data), encoding="utf-8")
    assert ShardHeader.load(tmp_path).tokenizer_kind == ShardHeader.load(shards_dir).tokenizer_kind


def test_pack_progress_knows_its_total(corpus_dir, tokenizer_dir, tmp_path, monkeypatch):
    """The bar's total (hence its ETA) is the split's document count from corpus.json."""
    from jaroberta.corpus import pack as pack_module
    from jaroberta.corpus.layout import MANIFEST, iter_documents

    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    splits = {split: {"documents": sum(1 for _ in iter_documents(corpus, split))} for split in ("train", "dev")}
    (corpus / MANIFEST).write_text(json.dumps({"splits": splits}), encoding="utf-8")
    totals = {}
    original = pack_module.progress_bar

    def spy(*args, **kwargs):
        totals[kwargs["desc"]] = kwargs.get("total")
        return original(*args, **kwargs)

    monkeypatch.setattr(pack_module, "progress_bar", spy)
    pack(PackConfig(corpus=corpus, tokenizer=tokenizer_dir, out=tmp_path / "s", max_length=SEQ_LEN))
    assert totals == {"pack train": splits["train"]["documents"], "pack dev": splits["dev"]["documents"]}
