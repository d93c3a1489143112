"""Damaged corpus input: truncated or corrupt archives keep every sentence that decodes before the break."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zlib
from pathlib import Path

import pytest

from jaroberta.corpus import iter_documents
from jaroberta.corpus.build import BuildConfig, build_corpus
from jaroberta.corpus.readers import ReadConfig

zstandard = pytest.importorskip("zstandard")

TEXT = "".join(f"これは{i}番目の文書の最初の文です。\n{i}の二つ目の文もあります。\n\n" for i in range(5000)).encode()

# name, compress, a fresh incremental decompressor (what `zcat`/`xzcat`/... print before the break)
FORMATS = [
    ("gz", gzip.compress, lambda: zlib.decompressobj(31)),
    ("xz", lzma.compress, lambda: lzma.LZMADecompressor()),
    ("bz2", lambda b: bz2.compress(b, 1), bz2.BZ2Decompressor),
    ("zst", lambda b: zstandard.ZstdCompressor().compress(b), lambda: zstandard.ZstdDecompressor().decompressobj()),
]


def build(tmp_path: Path, path: Path, **options):
    out = tmp_path / "out"
    report = build_corpus(BuildConfig(out=out, inputs=(path,), progress=False, **options))
    return out, report


def sentences(out: Path) -> list[str]:
    return [s for split in ("train", "dev") for doc in iter_documents(out, split) for s in doc]


@pytest.mark.parametrize("name, compress, decompressor", FORMATS, ids=[f[0] for f in FORMATS])
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_archive_keeps_every_decoded_sentence(tmp_path, caplog, name, compress, decompressor, keep):
    data = compress(TEXT)
    cut = data[: int(len(data) * keep)]
    path = tmp_path / f"cut.txt.{name}"
    path.write_bytes(cut)
    recoverable = decompressor().decompress(cut).decode("utf-8", "ignore")
    expected = recoverable.count("。")
    if expected == 0:
        pytest.skip("nothing decodes before this cut (a bzip2 block is all or nothing)")
    out, report = build(tmp_path, path)
    assert len(sentences(out)) == expected
    assert report.counts["input:read_errors"] == 1
    [problem] = report.problems
    assert "cut.txt" in problem and "truncated" in problem
    assert problem in (out / "report.txt").read_text(encoding="utf-8")
    assert any(problem in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["input"]["read_errors"] == 1
    manifest = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
    assert manifest["input_problems"] == {"read_errors": 1} and manifest["problems"] == [problem]


def test_small_truncated_gzip_is_not_lost_whole(tmp_path):
    """A file smaller than one read block used to give 0 documents."""
    data = gzip.compress(TEXT[:20000])
    path = tmp_path / "small.txt.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    out, report = build(tmp_path, path)
    recoverable = zlib.decompressobj(31).decompress(data[: len(data) * 2 // 3]).decode("utf-8", "ignore")
    assert len(sentences(out)) == recoverable.count("。") > 100


@pytest.mark.parametrize("name, compress, decompressor", FORMATS, ids=[f[0] for f in FORMATS])
@pytest.mark.parametrize("workers", [1, 2])
def test_corrupt_archive_keeps_what_decodes_before_the_bad_byte(tmp_path, name, compress, decompressor, workers):
    if name == "zst":  # zstd finds corruption only by its checksum
        compress = lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b)  # noqa: E731
    data = bytearray(compress(TEXT))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / f"bad.txt.{name}"
    path.write_bytes(bytes(data))
    reference, decoder = b"", decompressor()
    for i in range(len(data)):  # byte by byte: everything before the error
        try:
            reference += decoder.decompress(bytes(data[i : i + 1]))
        except Exception:  # each library's own error class
            break
    out, report = build(tmp_path, path, workers=workers, read=ReadConfig(chunk_bytes=16 << 10))
    expected = [s for s in reference.decode("utf-8", "ignore").split("\n") if s.endswith("。")]
    assert report.counts["input:read_errors"] == 1 and "corrupt" in report.problems[0]
    # every intact sentence decoded before the error is kept (xz may decode a little further
    # in large pieces than byte by byte before it notices; near the bad byte text is garbled)
    intact = set(TEXT.decode().split("\n"))
    assert {s for s in expected if s in intact} <= set(sentences(out))
    assert len(sentences(out)) >= len(expected) > 100


def test_concatenated_gzip_members_are_read_on(tmp_path):
    path = tmp_path / "two.txt.gz"
    half = TEXT.index(b"\n\n", len(TEXT) // 2) + 2
    path.write_bytes(gzip.compress(TEXT[:half]) + gzip.compress(TEXT[half:]))
    out, report = build(tmp_path, path)
    assert not report.problems
    assert report.documents == TEXT.count(b"\n\n")


def test_archive_broken_before_any_text_is_skipped_by_name(tmp_path):
    path = tmp_path / "head.txt.xz"
    path.write_bytes(lzma.compress(TEXT)[:30])
    (tmp_path / "good.txt").write_bytes(TEXT[:2000])
    out = tmp_path / "out"
    report = build_corpus(BuildConfig(out=out, inputs=(path, tmp_path / "good.txt"), progress=False))
    assert report.counts["input:skipped_files"] == 1
    assert any("head.txt.xz" in p and "truncated" in p for p in report.problems)


@pytest.mark.parametrize("damage, says", [
    (lambda out: (out / "corpus.json").write_text('{"form', encoding="utf-8"), "corpus.json is damaged"),
    (lambda out: (out / "corpus.json").write_text("[]", encoding="utf-8"), "corpus.json is damaged"),
    (lambda out: next((out / "train").glob("*.txt")).open("ab").write(b"\xff\xfe bad\n"), "not UTF-8"),
])
def test_damaged_corpus_folder_is_a_clear_error(tmp_path, damage, says):
    from jaroberta.corpus import read_manifest
    from jaroberta.errors import JarobertaError

    (tmp_path / "in.txt").write_bytes(TEXT[:3000])
    out, _ = build(tmp_path, tmp_path / "in.txt")
    damage(out)
    with pytest.raises(JarobertaError, match=says):
        read_manifest(out)
        list(iter_documents(out, "train"))
