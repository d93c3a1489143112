"""The corpus stage: readers, cleaning rules (from tables), split, resume, shards, bad input, CLI."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import Killed, kill_at_call

from jaroberta.cli import main
from jaroberta.corpus import iter_documents, iter_sentences, read_manifest
from jaroberta.corpus.build import BuildConfig, build_corpus
from jaroberta.corpus.clean import (
    CleanConfig,
    Cleaner,
    japanese_share,
    nfkc,
    split_sentences,
    strip_control,
    strip_markup,
)
from jaroberta.corpus.dedup import HashSet
from jaroberta.corpus.readers import ReadConfig, discover_inputs, parse_chunk, read_chunks
from jaroberta.corpus.split import dev_threshold, split_of
from jaroberta.errors import JarobertaError

DOCS = [
    ["東京は日本の首都である。人口が最も多い都市である。", "多くの人が電車で通勤している。"],
    ["春になると桜の花が咲く。", "多くの人が花見を楽しむ。"],
    ["猫が窓辺で昼寝をしている。", "とても気持ちよさそうだ。"],
    ["図書館で調べ物をしてから家に帰った。"],
    ["富士山は日本で最も高い山として知られている。", "夏には多くの登山者が訪れる。"],
    ["冬は空気が乾燥するので風邪をひきやすい。"],
]


def cc100(documents) -> str:
    return "".join("\n".join(doc) + "\n\n" for doc in documents)


def build(tmp_path: Path, inputs, name="out", **options) -> tuple[Path, object]:
    out = tmp_path / name
    options.setdefault("progress", False)
    report = build_corpus(BuildConfig(out=out, inputs=tuple(inputs), **options))
    return out, report


def all_documents(out: Path) -> list[list[str]]:
    return [doc for split in ("train", "dev") for doc in iter_documents(out, split)]


# -- cleaning rules, from tables ----------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("東京\u200bタワー", "東京タワー"),  # zero-width space
    ("\ufeff東京", "東京"),  # byte order mark
    ("東\x00京\x07", "東京"),  # C0 controls
    ("東京\tタワー", "東京 タワー"),  # tab becomes a space
    ("一行目\n二行目", "一行目\n二行目"),  # newlines separate lines: kept
    ("右\u202e左", "右左"),  # bidi override
    ("ソフト\xadハイフン", "ソフトハイフン"),
    ("普通の文。", "普通の文。"),
])
def test_control_chars_rule(text, expected):
    assert strip_control(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("<p>東京は<b>首都</b>です。</p>", "東京は首都です。"),
    ("A&amp;B社の製品。", "A&B社の製品。"),
    ("[[東京都|東京]]に住む。", "東京に住む。"),
    ("[[大阪]]に行く。", "大阪に行く。"),
    ("{{要出典}}本当である。", "本当である。"),
    ("'''太字'''の語。", "太字の語。"),
    ("<!-- コメント -->本文。", "本文。"),
    ("１＜２は正しい。", "１＜２は正しい。"),  # full-width brackets are text, not tags
    ("a < b and c > d", "a < b and c > d"),  # not a tag: no ASCII name right after <
])
def test_markup_rule(text, expected):
    assert strip_markup(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("ＡＢＣ１２３", "ABC123"),
    ("ｶﾀｶﾅ", "カタカナ"),
    ("ﾊﾟﾝ", "パン"),
    ("本当！？", "本当!?"),
    ("①", "1"),
    ("ひらがな。", "ひらがな。"),
])
def test_nfkc_rule(text, expected):
    assert nfkc(text) == expected


@pytest.mark.parametrize("line, expected", [
    ("今日は晴れ。明日は雨。", ["今日は晴れ。", "明日は雨。"]),
    ("本当?!うそ!", ["本当?!", "うそ!"]),
    ("「明日は雨。たぶん。」と彼は言った。次へ。", ["「明日は雨。たぶん。」と彼は言った。", "次へ。"]),
    ("『本。』を読む。", ["『本。』を読む。"]),
    ("(注意。)次の文。", ["(注意。)", "次の文。"]),  # only 「」『』 hold sentences together
    ("終わらない文", ["終わらない文"]),
    ("「閉じない引用。続き。", ["「閉じない引用。", "続き。"]),
    ("   ", []),
    ("彼は「はい。」と答えた。", ["彼は「はい。」と答えた。"]),
    ("文。)閉じ括弧。", ["文。)", "閉じ括弧。"]),
])
def test_sentence_split_rule(line, expected):
    assert split_sentences(line) == expected


@pytest.mark.parametrize("sentence, share", [
    ("日本語の文。", 1.0),
    ("hello world", 0.0),
    ("Windowsで開く。", 4 / 11),
    ("   ", 0.0),
])
def test_japanese_share(sentence, share):
    assert japanese_share(sentence) == pytest.approx(share)


@pytest.mark.parametrize("sentence, config, rule", [
    ("あ" * 1025 + "。", CleanConfig(), "length"),
    ("あいう。", CleanConfig(min_chars=5), "length"),
    ("見出しだけ", CleanConfig(), "terminal_punctuation"),
    ("Only English here.", CleanConfig(require_terminal=False), "japanese_share"),
    ("This is Englishです。", CleanConfig(min_japanese=0.5), "japanese_share"),
    ("普通の文です。", CleanConfig(), None),
    ("見出しだけ", CleanConfig(require_terminal=False), None),
    ("見出しだけ", CleanConfig(skip_rules=("terminal_punctuation",)), None),
    ("あ" * 1025 + "。", CleanConfig(skip_rules=("length",)), None),
])
def test_sentence_rules(sentence, config, rule):
    chunk = Cleaner(config).clean([[sentence]])
    if rule is None:
        assert chunk.documents == [[sentence]]
    else:
        assert chunk.documents == []
        assert chunk.counts[f"{rule}:dropped_sentences"] == 1


def test_cleaner_counts_each_line_rule_and_keeps_rejected():
    chunk = Cleaner(CleanConfig(keep_rejected=True)).clean([["<b>ｶﾀｶﾅ</b>の\u200b文。English only!"]])
    assert chunk.documents == [["カタカナの文。"]]
    for rule in ("control_chars", "markup", "nfkc"):
        assert chunk.counts[f"{rule}:changed_lines"] == 1
    assert chunk.rejected == [("japanese_share", "English only!")]


def test_unknown_rule_is_a_clear_error():
    with pytest.raises(JarobertaError, match="unknown rule"):
        CleanConfig(skip_rules=("nope",))


# -- dedup and split --------------------------------------------------------------------------
def test_hash_set_marks_first_occurrences_across_batches():
    seen = HashSet()
    assert seen.add(np.array([5, 3, 5, 9], dtype=np.uint64)).tolist() == [True, True, False, True]
    assert seen.add(np.array([9, 1, 3, 1], dtype=np.uint64)).tolist() == [False, True, False, False]
    many = np.arange(200_000, dtype=np.uint64)
    assert seen.add(many).sum() == 200_000 - 4  # 1, 3, 5, 9 already there; forces a merge
    assert len(seen) == 200_000 and seen.nbytes == 8 * 200_000


def test_split_is_a_pure_function_of_the_digest():
    threshold = dev_threshold(0.25)
    assert split_of(0, threshold) == "dev" and split_of(2**64 - 1, threshold) == "train"
    with pytest.raises(JarobertaError):
        dev_threshold(0.0)


def test_exact_dedup_of_sentences_and_documents(tmp_path):
    text = cc100(DOCS[:3] + [DOCS[0]] + [["春になると桜の花が咲く。", "新しい文です。"]])
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    out, report = build(tmp_path, [tmp_path / "a.txt"])
    documents = all_documents(out)
    assert len(documents) == 4
    assert ["新しい文です。"] in documents  # the repeated sentence went, the new one stayed
    assert report.counts["document_dedup:dropped_documents"] == 1
    assert report.counts["sentence_dedup:dropped_sentences"] == 1


def test_near_duplicate_filter(tmp_path):
    base = ["この文書は近い重複の検出を試すための長めの文章であり、ほとんど同じ内容が二度現れる。" * 3]
    near = [base[0].replace("二度", "2度")]
    (tmp_path / "a.txt").write_text(cc100([base, near, DOCS[1]]), encoding="utf-8")
    _, off = build(tmp_path, [tmp_path / "a.txt"], name="off")
    _, on = build(tmp_path, [tmp_path / "a.txt"], name="on", near_dup=0.5)
    assert off.documents == 3 and on.documents == 2
    assert on.counts["near_dedup:dropped_documents"] == 1


def test_split_is_stable_and_dev_never_empty(tmp_path):
    many = [[f"これは{i}番目の文書の文です。"] for i in range(400)]
    (tmp_path / "a.txt").write_text(cc100(many), encoding="utf-8")
    first, report = build(tmp_path, [tmp_path / "a.txt"], name="one", dev_fraction=0.05)
    second, _ = build(tmp_path, [tmp_path / "a.txt"], name="two", dev_fraction=0.05)
    dev = list(iter_documents(first, "dev"))
    assert dev == list(iter_documents(second, "dev"))
    assert 5 <= len(dev) <= 40  # ~5% of 400
    # pinned: the split depends only on the document's digest, identical on every machine
    assert "これは5番目の文書の文です。" in [d[0] for d in dev]
    # a tiny corpus still gets a dev document
    (tmp_path / "b.txt").write_text(cc100(DOCS[:2]), encoding="utf-8")
    tiny, report = build(tmp_path, [tmp_path / "b.txt"], name="tiny")
    assert len(list(iter_documents(tiny, "dev"))) == 1 and len(list(iter_documents(tiny, "train"))) == 1
    assert any("moved to dev" in note for note in report.notes)
    _, again = build(tmp_path, [tmp_path / "b.txt"], name="tiny")  # a rerun reports the same split
    assert again.splits == report.splits and again.notes == report.notes


def test_workers_give_identical_output(tmp_path):
    many = [[f"文書{i}の最初の文です。", f"文書{i % 7}の二番目の文です。"] for i in range(300)]
    (tmp_path / "a.txt").write_text(cc100(many), encoding="utf-8")
    read = ReadConfig(chunk_bytes=2048)  # many chunks, so both workers get some
    one, _ = build(tmp_path, [tmp_path / "a.txt"], name="one", read=read)
    two, _ = build(tmp_path, [tmp_path / "a.txt"], name="two", read=read, workers=2)
    for split in ("train", "dev"):
        assert list(iter_documents(one, split)) == list(iter_documents(two, split))


# -- readers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix, compress", [
    (".txt", lambda b: b),
    (".txt.gz", gzip.compress),
    (".txt.xz", lzma.compress),
    (".txt.bz2", bz2.compress),
    ("", lambda b: b),  # CC-100's own files have odd names; the format is the content
])
def test_text_reader_with_compression(tmp_path, suffix, compress):
    path = tmp_path / f"ja{suffix}"
    path.write_bytes(compress(cc100(DOCS[:3]).encode("utf-8")))
    out, _ = build(tmp_path, [path])
    assert sorted(all_documents(out)) == sorted([[s for line in doc for s in split_sentences(line)] for doc in DOCS[:3]])


def test_cirrus_reader_keeps_content_page_text(tmp_path):
    lines = [
        {"index": {"_type": "page", "_id": "1"}},
        {"namespace": 0, "title": "東京", "text": "東京は日本の首都である。多くの人が住む。"},
        {"index": {"_type": "page", "_id": "2"}},
        {"namespace": 4, "title": "Wikipedia:方針", "text": "これは方針の文書です。"},
        {"index": {"_type": "page", "_id": "3"}},
        {"namespace": 0, "title": "大阪", "text": "大阪は関西の都市である。"},
    ]
    path = tmp_path / "jawiki-20240101-cirrussearch-content.json.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode()))
    assert discover_inputs([path], ReadConfig())[0].format == "cirrus"
    out, report = build(tmp_path, [path])
    assert sorted(all_documents(out)) == [["大阪は関西の都市である。"], ["東京は日本の首都である。", "多くの人が住む。"]]
    assert report.counts["input:non_content_pages"] == 1


def test_jsonl_reader_with_configurable_field(tmp_path):
    path = tmp_path / "docs.jsonl"
    records = [{"body": "一つ目の文書です。\n二行目です。"}, {"body": "二つ目の文書です。"}, {"title": "本文なし"}, "not an object"]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) + "{broken\n", encoding="utf-8")
    out, report = build(tmp_path, [path], read=ReadConfig(text_field="body"))
    assert sorted(all_documents(out)) == [["一つ目の文書です。", "二行目です。"], ["二つ目の文書です。"]]
    assert report.counts["input:records_without_text"] == 1
    assert report.counts["input:bad_json_lines"] == 2


def test_folder_input_reads_files_in_order_and_skips_hidden(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text(cc100([DOCS[1]]), encoding="utf-8")
    (folder / "sub" / "a.txt").write_text(cc100([DOCS[0]]), encoding="utf-8")
    (folder / ".hidden.txt").write_text(cc100([DOCS[2]]), encoding="utf-8")
    assert [i.path.name for i in discover_inputs([folder], ReadConfig())] == ["b.txt", "a.txt"]


def test_reader_memory_is_bounded_by_chunks(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(cc100(DOCS * 200), encoding="utf-8")
    counts = Counter()
    item = discover_inputs([path], ReadConfig())[0]
    chunks = [chunk for chunk, _ in read_chunks(item, ReadConfig(chunk_bytes=4096), counts)]
    assert len(chunks) > 5 and max(map(len, chunks)) < 4096 + (1 << 20)
    assert all(chunk.endswith(b"\n\n") for chunk in chunks)  # every chunk ends on a document boundary
    assert b"".join(chunks) == path.read_bytes()


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, kept", [("replace", 2), ("skip", 1)])
def test_invalid_utf8_is_replaced_or_skipped_and_counted(tmp_path, mode, kept):
    path = tmp_path / "bad.txt"
    path.write_bytes("正しい文です。\n".encode() + b"\xff\xfe\xfa\xe5\x8f\xa3\xe3\x81\xae\xe6\x96\x87\xe3\x80\x82\n")
    out, report = build(tmp_path, [path], read=ReadConfig(invalid_utf8=mode))
    assert report.counts["input:invalid_utf8_lines"] == 1
    assert sum(len(d) for d in iter_documents(out, "train")) == kept


def test_nul_bytes_are_removed_and_counted(tmp_path):
    path = tmp_path / "nul.txt"
    path.write_bytes("東京は\x00首都です。\n".encode())
    out, report = build(tmp_path, [path])
    assert list(iter_documents(out, "train")) == [["東京は首都です。"]]
    assert report.counts["input:nul_bytes"] == 1


def test_utf16_and_binary_files_are_skipped_by_name(tmp_path):
    (tmp_path / "good.txt").write_text(cc100(DOCS[:2]), encoding="utf-8")
    (tmp_path / "utf16.txt").write_bytes("東京は首都です。\n".encode("utf-16"))
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 40)
    out, report = build(tmp_path, [tmp_path / "good.txt", tmp_path / "utf16.txt", tmp_path / "blob.bin"])
    assert report.counts["input:skipped_files"] == 2
    assert any("utf16.txt" in p and "UTF-16" in p for p in report.problems)
    assert any("blob.bin" in p for p in report.problems)


def test_ten_megabyte_line_is_dropped_without_holding_it(tmp_path):
    path = tmp_path / "long.txt"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("前の文です。\n")
        handle.write("あ" * (10 * 1024 * 1024 // 3 + 10) + "\n")
        handle.write("後の文です。\n")
    out, report = build(tmp_path, [path], read=ReadConfig(max_line_bytes=1 << 20))
    assert report.counts["input:long_lines"] == 1
    assert sorted(s for d in all_documents(out) for s in d) == ["前の文です。", "後の文です。"]


def test_empty_file_and_text_without_japanese_are_reported(tmp_path):
    (tmp_path / "good.txt").write_text(cc100(DOCS[:2]), encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "english.txt").write_text("Only English here.\nNothing else.\n", encoding="utf-8")
    out, report = build(tmp_path, [tmp_path / n for n in ("good.txt", "empty.txt", "english.txt")])
    assert any("empty.txt" in p and "empty file" in p for p in report.problems)
    assert any("english.txt" in p and "no Japanese" in p for p in report.problems)
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["problems"] == report.problems


def test_only_bad_input_is_a_clear_error(tmp_path):
    (tmp_path / "english.txt").write_text("Only English here.\n", encoding="utf-8")
    with pytest.raises(JarobertaError, match="no text left"):
        build(tmp_path, [tmp_path / "english.txt"])
    assert (tmp_path / "out" / "report.txt").exists()  # the report says why


def test_broken_link_in_a_folder_is_skipped_by_name(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text(cc100(DOCS[:2]), encoding="utf-8")
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    out, report = build(tmp_path, [folder])
    assert report.counts["input:skipped_files"] == 1
    assert any("gone.txt" in p and "cannot open" in p for p in report.problems)


@pytest.mark.parametrize("workers", [1, 2])
def test_truncated_archive_keeps_what_was_read(tmp_path, workers):
    data = gzip.compress(cc100([[f"文書{i}の文です。"] for i in range(60000)]).encode())
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    out, report = build(tmp_path, [path], workers=workers, read=ReadConfig(chunk_bytes=64 << 10))
    assert report.counts["input:read_errors"] == 1
    assert any("cut.txt.gz" in p and "truncated" in p for p in report.problems)
    readable = __import__("zlib").decompressobj(31).decompress(data[: len(data) // 2])  # what zcat prints
    # every complete sentence decoded before the break is kept, whatever the worker count;
    # the one cut mid-way is dropped by the terminal punctuation rule, and counted there
    assert sum(map(len, all_documents(out))) == readable.count("。".encode()) > 1000
    assert report.counts["terminal_punctuation:dropped_sentences"] == 1


@pytest.mark.parametrize("argv, message", [
    (["missing.txt", "out"], "does not exist"),
    (["emptydir", "out"], "has no files"),
    (["good.txt", "out", "--shard", "3/2"], "shard must be"),
    (["good.txt", "out", "--shard", "x"], "--shard must look like i/N"),
    (["good.txt", "out", "--dev-fraction", "1.5"], "dev_fraction"),
    (["good.txt", "out", "--workers", "0"], "workers must be"),
    (["good.txt", "out", "--skip-rule", "bogus"], "unknown rule"),
    (["good.txt", "file.txt"], "not empty|not a folder"),
    (["good.txt", "file.txt/out"], "cannot write the corpus folder"),
])
def test_cli_user_mistakes_are_one_line_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "good.txt").write_text(cc100(DOCS), encoding="utf-8")
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    assert main(["corpus", "build", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaroberta corpus: error:") and len(err.splitlines()) == 1
    import re

    assert re.search(message, err)


# -- resume and shards ------------------------------------------------------------------------------
def test_rerun_skips_finished_inputs_and_redoes_interrupted_ones(tmp_path, monkeypatch):
    inputs = []
    for i, doc in enumerate(DOCS[:4]):
        path = tmp_path / f"in{i}.txt"
        path.write_text(cc100([doc, DOCS[5]]), encoding="utf-8")
        inputs.append(path)
    reference, _ = build(tmp_path, inputs, name="reference")

    import jaroberta.corpus.build as build_module

    real = build_module._Builder._build_input
    calls = []

    def crash_on_third(self, key, item, workers, bar):
        calls.append(item.path.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, key, item, workers, bar)

    monkeypatch.setattr(build_module._Builder, "_build_input", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, inputs, name="resumed")
    assert not list((tmp_path / "resumed").rglob("*.partial"))  # nothing half-written left behind
    calls.clear()
    monkeypatch.setattr(build_module._Builder, "_build_input", lambda self, *a: (calls.append(a[1].path.name), real(self, *a))[1])
    _, report = build(tmp_path, inputs, name="resumed")
    assert calls == ["in2.txt", "in3.txt"]  # the finished inputs were skipped
    for split in ("train", "dev"):
        assert list(iter_documents(tmp_path / "resumed", split)) == list(iter_documents(reference, split))
    assert report.counts["input:files"] == 4  # the report covers the whole corpus
    assert report.counts["document_dedup:dropped_documents"] == 3  # dedup remembered finished inputs


def _outputs(out: Path) -> dict:
    """Everything a build leaves that a resumed build must reproduce: report (less the run's
    timings), rejected files, parts."""
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    del report["run"]
    report["options"] = None  # identical by construction (the plan check), paths aside
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
             if p.is_file() and p.parent.name in ("train", "dev", "rejected")}
    return {"report": report, "files": files}


@pytest.mark.parametrize("kill_at", [2, 3])
def test_resumed_build_reports_exactly_what_an_uninterrupted_one_does(tmp_path, monkeypatch, kill_at):
    """Killed mid-build and rerun: report.json and the rejected files equal an uninterrupted build's
    (a near-duplicate dropped before the kill is still an exact duplicate after it)."""
    import jaroberta.corpus.build as build_module

    base = "この文書は近い重複の検出を試すための長めの文章であり、ほとんど同じ内容が二度現れる。" * 3
    near = base.replace("二度", "2度")
    texts = [cc100([[base], [near], DOCS[0]]), cc100([[near], DOCS[1], DOCS[0]]), cc100([[near], [base], DOCS[2]])]
    inputs = []
    for i, text in enumerate(texts):
        inputs.append(tmp_path / f"in{i}.txt")
        inputs[-1].write_text(text, encoding="utf-8")
    options = dict(near_dup=0.5, read=ReadConfig(chunk_bytes=1024), clean=CleanConfig(keep_rejected=True))
    reference, whole = build(tmp_path, inputs, name="whole", **options)
    assert whole.counts["near_dedup:dropped_documents"] == 1 and whole.counts["document_dedup:dropped_documents"] == 4

    kill_at_call(monkeypatch, build_module._Builder, "_write_kept", kill_at)  # a chunk of the second or third input
    with pytest.raises(Killed):
        build(tmp_path, inputs, name="resumed", **options)
    monkeypatch.undo()
    build(tmp_path, inputs, name="resumed", **options)
    assert _outputs(tmp_path / "resumed") == _outputs(reference)


def test_rerun_with_other_options_needs_overwrite(tmp_path):
    (tmp_path / "a.txt").write_text(cc100(DOCS), encoding="utf-8")
    build(tmp_path, [tmp_path / "a.txt"])
    with pytest.raises(JarobertaError, match="overwrite"):
        build(tmp_path, [tmp_path / "a.txt"], clean=CleanConfig(min_chars=3))
    _, report = build(tmp_path, [tmp_path / "a.txt"], clean=CleanConfig(min_chars=3), overwrite=True)
    assert report.documents == len(DOCS)


def test_shards_partition_the_corpus(tmp_path):
    many = [[f"文書{i}の文です。"] for i in range(300)]
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"in{i}.txt")
        paths[-1].write_text(cc100(many[i * 100 : (i + 1) * 100]), encoding="utf-8")
    read = ReadConfig(chunk_bytes=1024)
    whole, _ = build(tmp_path, paths, name="whole", read=read)
    shards = [build(tmp_path, paths, name=f"s{i}", read=read, shard=(i, 2))[0] for i in range(2)]
    parts = [all_documents(s) for s in shards]
    assert parts[0] and parts[1]
    assert sorted(parts[0] + parts[1]) == sorted(all_documents(whole))
    names = {p.name for s in shards for p in (s / "train").glob("*.txt")}
    assert all(".s0of2" in n or ".s1of2" in n for n in names)  # shard folders can be copied together


# -- the output contract ----------------------------------------------------------------------------
def test_cli_build_writes_the_layout_and_prints_the_report(tmp_path, capsys):
    (tmp_path / "a.txt").write_text(cc100(DOCS) + "Only English.\n\n", encoding="utf-8")
    out = tmp_path / "corpus"
    assert main(["corpus", "build", str(tmp_path / "a.txt"), str(out), "--keep-rejected", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    for word in ("documents", "sentences", "characters", "japanese_share", "license"):
        assert word in printed
    manifest = read_manifest(out)
    assert manifest["splits"]["train"]["documents"] + manifest["splits"]["dev"]["documents"] == len(DOCS)
    assert manifest["sources"][0]["license"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["rules"]["terminal_punctuation"]["dropped_sentences"] == 1
    assert (out / "report.txt").read_text(encoding="utf-8").strip() in printed
    rejected = [json.loads(line) for f in (out / "rejected").glob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()]
    assert rejected == [{"rule": "terminal_punctuation", "text": "Only English."}]
    sentences = list(iter_sentences(out, "train")) + list(iter_sentences(out, "dev"))
    assert len(sentences) == sum(len([s for line in d for s in split_sentences(line)]) for d in DOCS)


def test_rules_on_a_whole_document_are_line_local():
    """Rules run on documents joined by newlines: nothing may cross or remove a line end."""
    document = ["前の行<b", "後の行>です。", "[[リンク", "続き]]です。", "&#10;改行の実体です。", "「開いた", "閉じた」です。"]
    chunk = Cleaner(CleanConfig(require_terminal=False)).clean([document])
    assert chunk.documents == [["前の行<b", "後の行>です。", "[[リンク", "続き]]です。", "改行の実体です。", "「開いた", "閉じた」です。"]]
    assert chunk.counts["markup:changed_lines"] == 1


@pytest.mark.parametrize("fmt, chunk, expected", [
    ("text", "一行目\n二行目\n\n\n三行目\n", [["一行目", "二行目"], ["三行目"]]),
    ("text", "  \n文書\n \n", [["文書"]]),  # whitespace-only lines separate documents too
    ("jsonl", '{"text": "本文\\n二行目"}\n\n{"text": 3}\n', [["本文", "二行目"]]),
    ("cirrus", '{"index": {"_id": "1"}}\n{"namespace": 0, "text": "記事の本文。"}\n', [["記事の本文。"]]),
])
def test_parse_chunk_by_format(fmt, chunk, expected):
    assert parse_chunk(chunk.encode("utf-8"), fmt, ReadConfig(), Counter()) == expected


def test_minhash_signature_estimates_jaccard():
    from jaroberta.corpus.dedup import NearDuplicates

    near = NearDuplicates(0.8, num_perm=128)
    text = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所で泣いていた事だけは記憶している。"
    same, edited, other = (near.signature([t]) for t in (text, text.replace("猫", "犬"), "まったく関係のない別の文章をここに書いておく。" * 3))
    assert (near.signature([text]) == same).all()  # deterministic
    # the share of equal signature values estimates the Jaccard similarity of the 5-gram sets
    assert (same == edited).mean() > 0.6 and (same == other).mean() < 0.1
