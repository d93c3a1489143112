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
from jaroberta.corpus.build import BuildConfig, EmptyCorpus, build_corpus
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


def failing_byte(data: bytes, decompressor) -> int:
    """The byte at which a fresh decompressor fed one byte at a time raises (each library's own error)."""
    decoder, stream_end = decompressor(), 0
    for i in range(len(data)):
        try:
            decoder.decompress(data[i : i + 1])
        except Exception:  # noqa: BLE001 - zlib.error, LZMAError, OSError, ZstdError
            return i
        if getattr(decoder, "eof", False):  # a concatenated member, stream or frame follows
            decoder, stream_end = decompressor(), i + 1
    raise AssertionError(f"no error after byte {stream_end}")


def _parts(compress, pieces: int):
    """Compress TEXT as `pieces` concatenated members/streams/frames, cut at document ends."""
    cuts = [0] + [TEXT.index(b"\n\n", len(TEXT) * k // pieces) + 2 for k in range(1, pieces)] + [len(TEXT)]
    return lambda data: b"".join(compress(data[a:b]) for a, b in zip(cuts, cuts[1:]))


ORIGINAL = set(TEXT.decode().split("\n"))
# name, compress, decompressor, units: how the archive is made of units that carry their own check
CORRUPT = [
    ("gz", gzip.compress, lambda: zlib.decompressobj(31)),
    ("gz", _parts(gzip.compress, 4), lambda: zlib.decompressobj(31)),  # pigz/bgzip-like members
    ("xz", lzma.compress, lzma.LZMADecompressor),
    ("xz", _parts(lzma.compress, 4), lzma.LZMADecompressor),
    ("bz2", lambda b: bz2.compress(b, 1), bz2.BZ2Decompressor),  # 100 kB blocks, each with its CRC
    ("bz2", lambda b: bz2.compress(b, 9), bz2.BZ2Decompressor),
    ("zst", lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b), lambda: zstandard.ZstdDecompressor().decompressobj()),
    ("zst", _parts(lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b), 4),
     lambda: zstandard.ZstdDecompressor().decompressobj()),
]


@pytest.mark.parametrize("name, compress, decompressor", CORRUPT,
                         ids=["gz", "gz-members", "xz", "xz-streams", "bz2-1", "bz2-9", "zst", "zst-frames"])
@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("workers", [1, 2])
def test_corrupt_archive_keeps_no_scrambled_sentence(tmp_path, caplog, name, compress, decompressor, where, workers):
    data = bytearray(compress(TEXT))
    data[int(len(data) * where)] ^= 0xFF
    path = tmp_path / f"bad.txt.{name}"
    path.write_bytes(bytes(data))
    offset = failing_byte(bytes(data), decompressor)
    out = tmp_path / "out"
    try:
        report = build_corpus(BuildConfig(out=out, inputs=(path,), progress=False, workers=workers,
                                          read=ReadConfig(chunk_bytes=16 << 10)))
    except EmptyCorpus as exc:  # one gzip member or zstd frame: nothing verified, nothing kept
        report = exc.report
    kept = [line for part in sorted(out.glob("*/*.txt")) for line in part.read_text(encoding="utf-8").split("\n") if line]
    # every kept sentence is one of the originals: nothing decoded from a unit that failed its check
    assert set(kept) <= ORIGINAL
    assert report.counts["input:read_errors"] == 1
    [problem] = report.problems
    assert "bad.txt" in problem and "corrupt" in problem and f"decoding failed at byte {offset:,} of the file" in problem
    assert any(problem in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["input"]["read_errors"] == 1 and saved["problems"] == [problem]
    # what was not kept is counted, and every line of the text is either kept or counted
    rejected = saved["input"]["corrupt_rejected_lines"]
    assert f"{rejected:,} lines" in problem and f"{saved['input']['corrupt_rejected_bytes']:,} bytes" in problem
    if name == "gz" and len(kept) == 0:  # one member: all it decoded before its CRC failed at its end is rejected
        assert rejected > 0
    decoded_before = TEXT.count(b"\n") - rejected  # lines handed out whole or in part
    assert len(kept) <= decoded_before


# (format, bytes before the end, bit flipped): flips near the end that leave the decoder
# waiting for more data at the end of the file, as a cut file would
@pytest.mark.parametrize("name, back, bit", [("gz", 9, 0), ("gz", 10, 3), ("gz", 13, 4), ("gz", 16, 6), ("gz", 40, 2),
                                             ("xz", 24, 3), ("xz", 36, 0)])
def test_archive_damaged_near_its_end_is_not_taken_for_truncated(tmp_path, name, back, bit):
    """A flip near the end can make the decoder read the stream's end as data and stop
    'truncated' with scrambled text: the end the file does have (gzip's size, xz's footer) says
    it is not cut short."""
    data = bytearray({"gz": gzip.compress, "xz": lzma.compress}[name](TEXT))
    data[len(data) - back] ^= 1 << bit
    path = tmp_path / f"bad.txt.{name}"
    path.write_bytes(bytes(data))
    out = tmp_path / "out"
    try:
        report = build_corpus(BuildConfig(out=out, inputs=(path,), progress=False))
    except EmptyCorpus as exc:
        report = exc.report
    kept = [line for part in sorted(out.glob("*/*.txt")) for line in part.read_text(encoding="utf-8").split("\n") if line]
    assert set(kept) <= ORIGINAL
    assert "truncated" not in report.problems[0] and "corrupt" in report.problems[0]


@pytest.mark.parametrize("name, compress, decompressor", [CORRUPT[i] for i in (1, 3, 4, 7)],
                         ids=["gz-members", "xz-streams", "bz2-1", "zst-frames"])
def test_units_before_the_damage_are_kept_whole(tmp_path, name, compress, decompressor):
    data = bytearray(compress(TEXT))
    data[int(len(data) * 0.9)] ^= 0xFF  # in the last unit
    path = tmp_path / f"bad.txt.{name}"
    path.write_bytes(bytes(data))
    out, report = build(tmp_path, path)
    kept = sentences(out)
    assert set(kept) <= ORIGINAL
    assert len(kept) > len(ORIGINAL) // 2  # the verified units before the damaged one are all there
    assert "bytes were not read" in report.problems[0]


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
