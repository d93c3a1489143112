"""Corpus inputs as they ship today: Parquet files and Hugging Face `datasets` folders."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict

import jaroberta.corpus.build as build_module
from jaroberta.cli import main
from jaroberta.corpus import iter_documents
from jaroberta.corpus.build import BuildConfig, build_corpus
from jaroberta.corpus.readers import ReadConfig, discover_inputs
from jaroberta.corpus.tables import read_table_chunks, resolve_tables
from jaroberta.errors import JarobertaError

# documents as table rows: lines joined by newlines, as CirrusSearch and JSON Lines hold them
ROWS = [f"文書{i}の最初の文です。\n文書{i}の二番目の文は{i * 7919 % 1000}番です。" for i in range(300)]


def build(tmp_path: Path, inputs, name="out", **options):
    out = tmp_path / name
    options.setdefault("progress", False)
    report = build_corpus(BuildConfig(out=out, inputs=tuple(inputs), **options))
    return out, report


def corpus(out: Path) -> dict[str, list[list[str]]]:
    return {split: list(iter_documents(out, split)) for split in ("train", "dev")}


def write_parquet(path: Path, rows, row_group_size=40, **columns) -> Path:
    pq.write_table(pa.table({"text": rows, **columns}), path, row_group_size=row_group_size)
    return path


def write_text(path: Path, rows) -> Path:
    path.write_text("".join(row + "\n\n" for row in rows), encoding="utf-8")
    return path


def chunks(path: Path, fmt: str, read: ReadConfig) -> list[list[str]]:
    """The rows of each chunk `read_table_chunks` makes of `path`."""
    item = discover_inputs([path], ReadConfig(format=fmt))[0]
    return [pa.ipc.open_stream(chunk).read_all().column(0).to_pylist()
            for chunk, _ in read_table_chunks(item, read, Counter())]


# -- the formats -------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 2])
def test_parquet_with_several_row_groups_gives_the_text_path_corpus(tmp_path, workers):
    path = write_parquet(tmp_path / "ja.parquet", ROWS, row_group_size=40, id=list(range(len(ROWS))))
    assert pq.ParquetFile(path).metadata.num_row_groups == 8
    read = ReadConfig(chunk_bytes=2048)  # many chunks, so both workers get some
    table, report = build(tmp_path, [path], name="table", read=read, workers=workers)
    text, _ = build(tmp_path, [write_text(tmp_path / "ja.txt", ROWS)], name="text", read=read)
    assert corpus(table) == corpus(text)
    assert report.documents == len(ROWS) and report.counts["input:files"] == 1


def test_chunks_do_not_depend_on_how_the_file_was_batched(tmp_path):
    read = ReadConfig(chunk_bytes=1000)
    small = chunks(write_parquet(tmp_path / "a.parquet", ROWS, row_group_size=7), "parquet", read)
    large = chunks(write_parquet(tmp_path / "b.parquet", ROWS, row_group_size=1000), "parquet", read)
    Dataset.from_dict({"text": ROWS}).save_to_disk(tmp_path / "ds")
    stream = chunks(tmp_path / "ds" / "data-00000-of-00001.arrow", "arrow", read)
    assert small == large == stream and len(small) > 10
    # bounded: a chunk holds about chunk_bytes of text, plus at most one row
    longest = max(len(row.encode("utf-8")) for row in ROWS)
    assert [row for chunk in small for row in chunk] == ROWS
    for chunk in small:
        assert sum(len(row.encode("utf-8")) for row in chunk) < read.chunk_bytes + longest


def test_datasets_folder_from_save_to_disk(tmp_path):
    Dataset.from_dict({"text": ROWS, "label": [i % 3 for i in range(len(ROWS))]}).save_to_disk(tmp_path / "ds", num_shards=3)
    folder, report = build(tmp_path, [tmp_path / "ds"], name="folder", read=ReadConfig(chunk_bytes=2048))
    parquet, _ = build(tmp_path, [write_parquet(tmp_path / "ja.parquet", ROWS)], name="parquet",
                       read=ReadConfig(chunk_bytes=2048))
    assert report.counts["input:files"] == 3  # the three data files; state.json and dataset_info.json are metadata
    assert sorted(d for s in corpus(folder).values() for d in s) == sorted(d for s in corpus(parquet).values() for d in s)


def test_dataset_dict_reads_every_split_and_ignores_cache_files(tmp_path):
    half = len(ROWS) // 2
    DatasetDict({"train": Dataset.from_dict({"text": ROWS[:half]}),
                 "validation": Dataset.from_dict({"text": ROWS[half:]})}).save_to_disk(tmp_path / "dd")
    (tmp_path / "dd" / "train" / "cache-0123456789abcdef.arrow").write_bytes(b"not listed in state.json")
    inputs = resolve_tables(discover_inputs([tmp_path / "dd"], ReadConfig()), ReadConfig())
    assert [(i.path.parent.name, i.format) for i in inputs] == [("train", "arrow"), ("validation", "arrow")]
    _, report = build(tmp_path, [tmp_path / "dd"])
    assert report.documents == len(ROWS)


def test_dataset_dict_splits_are_read_in_the_order_the_folder_lists_them(tmp_path):
    half = len(ROWS) // 2
    DatasetDict({"train": Dataset.from_dict({"text": ROWS[:half]}),
                 "test": Dataset.from_dict({"text": ROWS[half:]})}).save_to_disk(tmp_path / "dd")
    inputs = resolve_tables(discover_inputs([tmp_path / "dd"], ReadConfig()), ReadConfig())
    assert [i.path.parent.name for i in inputs] == ["train", "test"]  # as dataset_dict.json lists them, not sorted
    # so the corpus equals one built from the same rows in one table
    whole, _ = build(tmp_path, [write_parquet(tmp_path / "all.parquet", ROWS)], name="whole")
    split, _ = build(tmp_path, [tmp_path / "dd"], name="split")
    assert corpus(split) == corpus(whole)


def test_arrow_ipc_file_and_empty_table(tmp_path):
    table = pa.table({"text": ROWS})
    with pa.OSFile(str(tmp_path / "ja.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=64)  # the random-access format, as pyarrow's feather writes
    write_parquet(tmp_path / "empty.parquet", pa.array([], pa.string()))
    _, report = build(tmp_path, [tmp_path / "ja.arrow", tmp_path / "empty.parquet"])
    assert report.documents == len(ROWS)
    assert report.problems == [f"{tmp_path / 'empty.parquet'}: skipped: the table has no rows"]


def test_text_field_picks_the_column(tmp_path, capsys):
    path = write_parquet(tmp_path / "ja.parquet", ["English only."] * len(ROWS), body=ROWS)
    out = tmp_path / "out"
    assert main(["corpus", "build", str(path), str(out), "--text-field", "body", "--no-progress"]) == 0
    assert sum(len(docs) for docs in corpus(out).values()) == len(ROWS)


def test_shards_of_a_parquet_file_partition_the_corpus(tmp_path):
    path = write_parquet(tmp_path / "ja.parquet", ROWS)
    read = ReadConfig(chunk_bytes=1024)
    whole, _ = build(tmp_path, [path], name="whole", read=read)
    shards = [build(tmp_path, [path], name=f"s{i}", read=read, shard=(i, 3))[0] for i in range(3)]
    parts = [[d for docs in corpus(s).values() for d in docs] for s in shards]
    assert all(parts)
    assert sorted(parts[0] + parts[1] + parts[2]) == sorted(d for docs in corpus(whole).values() for d in docs)


def test_rerun_after_an_interruption_inside_a_parquet_file(tmp_path, monkeypatch):
    paths = [write_parquet(tmp_path / "in0.parquet", ROWS[:150]), write_parquet(tmp_path / "in1.parquet", ROWS[150:] + ROWS[:5])]
    read = ReadConfig(chunk_bytes=1024)
    reference, _ = build(tmp_path, paths, name="reference", read=read)

    real = build_module.read_table_chunks
    opened = []

    def interrupted(item, config, counts, problems):
        opened.append(item.path.name)
        for number, chunk in enumerate(real(item, config, counts, problems)):
            if item.path.name == "in1.parquet" and number == 3 and len(opened) == 2:  # the first run only
                raise KeyboardInterrupt
            yield chunk

    monkeypatch.setattr(build_module, "read_table_chunks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, paths, name="resumed", read=read)
    assert not list((tmp_path / "resumed").rglob("*.partial"))
    opened.clear()
    _, report = build(tmp_path, paths, name="resumed", read=read)
    assert opened == ["in1.parquet"]  # the finished file was skipped
    assert corpus(tmp_path / "resumed") == corpus(reference)
    assert report.counts["document_dedup:dropped_documents"] == 5  # dedup remembered the finished file


# -- bad input ---------------------------------------------------------------------------------------
def test_truncated_parquet_is_refused_whole_and_the_report_says_so(tmp_path):
    data = write_parquet(tmp_path / "full.parquet", ROWS).read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cut.parquet").write_bytes(data[: len(data) // 2])
    write_parquet(tmp_path / "in" / "good.parquet", ROWS[:10])
    out, report = build(tmp_path, [tmp_path / "in"])
    assert report.documents == 10 and report.counts["input:skipped_files"] == 1
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["input"]["skipped_files"] == saved["input"]["tables_refused"] == 1
    [problem] = saved["problems"]
    assert "cut.parquet" in problem and "whole file was refused" in problem and "footer" in problem


def damage_row_group(path: Path, group: int) -> None:
    """Overwrite the bytes of one row group's text column (its pages), found from the file's metadata."""
    column = pq.ParquetFile(path).metadata.row_group(group).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("groups", [[14], [0, 29], [3, 4, 20]])
def test_damaged_row_groups_cost_only_their_own_rows(tmp_path, workers, groups):
    rows_per_group = 10
    path = write_parquet(tmp_path / "ja.parquet", ROWS, row_group_size=rows_per_group)  # 30 small row groups
    for group in groups:
        damage_row_group(path, group)
    out, report = build(tmp_path, [path], workers=workers, read=ReadConfig(chunk_bytes=1024))
    lost = {i for g in groups for i in range(g * rows_per_group, (g + 1) * rows_per_group)}
    readable = [row.split("\n") for i, row in enumerate(ROWS) if i not in lost]
    # every row of every readable row group is kept, nothing of the damaged ones
    assert sorted(d for s in corpus(out).values() for d in s) == sorted(readable)
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["input"]["damaged_row_groups"] == len(groups)
    assert saved["input"]["damaged_rows"] == len(groups) * rows_per_group
    assert len(saved["problems"]) == len(groups)
    for group, problem in zip(groups, saved["problems"]):  # file, group index and rows named
        assert "ja.parquet" in problem and f"row group {group} of 30" in problem and f"{rows_per_group:,} of its" in problem
    assert "row groups that did not decode" in (out / "report.txt").read_text(encoding="utf-8")


def test_damaged_row_group_with_page_checksums(tmp_path):
    """Damage that still decodes (an uncompressed page) is caught where the writer stored page checksums."""
    path = tmp_path / "ja.parquet"
    pq.write_table(pa.table({"text": ROWS}), path, row_group_size=10, compression="none", write_page_checksum=True)
    column = pq.ParquetFile(path).metadata.row_group(7).column(0)
    data = bytearray(path.read_bytes())
    middle = (column.dictionary_page_offset or column.data_page_offset) + column.total_compressed_size - 20
    data[middle] ^= 0x01  # one bit inside the last page's values: still valid text, wrong
    path.write_bytes(bytes(data))
    out, report = build(tmp_path, [path], read=ReadConfig(chunk_bytes=1024))
    assert report.counts["input:damaged_row_groups"] == 1
    kept = {s for d in corpus(out).values() for doc in d for s in doc}
    assert kept <= {s for row in ROWS for s in row.split("\n")}  # nothing altered kept


def test_cut_off_datasets_file_keeps_the_rows_before_the_cut(tmp_path):
    Dataset.from_dict({"text": ROWS}).save_to_disk(tmp_path / "ds")
    path = tmp_path / "ds" / "data-00000-of-00001.arrow"
    stream = pa.ipc.open_stream(path.read_bytes()).read_all()
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, stream.schema) as writer:
        for batch in stream.to_batches(max_chunksize=50):  # six messages of 50 rows
            writer.write_batch(batch)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    _, report = build(tmp_path, [tmp_path / "ds"])
    assert report.counts["input:read_errors"] == 1 and "read error" in report.problems[0]
    assert 150 <= report.documents < len(ROWS)


@pytest.mark.parametrize("columns, field, message", [
    ({"body": ROWS}, "text", r"has no column 'text' \(its columns: body\).*--text-field"),
    ({"text": list(range(len(ROWS))), "body": ROWS}, "text", r"holds int64, not text.*string columns here: body"),
    ({"text": [[r] for r in ROWS]}, "text", r"holds list<.*no string column"),
])
def test_unusable_text_column_is_a_one_line_error(tmp_path, capsys, columns, field, message):
    pq.write_table(pa.table(columns), tmp_path / "bad.parquet")
    assert main(["corpus", "build", str(tmp_path / "bad.parquet"), str(tmp_path / "out"), "--text-field", field,
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.parquet" in err and re.search(message, err)


def test_missing_column_in_a_datasets_folder_names_the_columns(tmp_path):
    Dataset.from_dict({"content": ROWS, "url": ["u"] * len(ROWS)}).save_to_disk(tmp_path / "ds")
    with pytest.raises(JarobertaError, match=r"no column 'text' \(its columns: content, url\)"):
        build(tmp_path, [tmp_path / "ds"])


def test_null_and_empty_rows_are_counted(tmp_path):
    rows = ROWS[:20] + [None, None, None, ""]
    out, report = build(tmp_path, [write_parquet(tmp_path / "ja.parquet", rows, row_group_size=6)])
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["input"]["null_rows"] == 3
    assert saved["input"]["documents"] == 21  # the empty string is a document with no text
    assert report.documents == 20
    assert "null" in (out / "report.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("mode, kept", [("replace", ["東京は晴れです。", "\ufffd\ufffdの文です。"]), ("skip", ["東京は晴れです。"])])
def test_invalid_utf8_in_a_string_column_is_replaced_or_skipped_and_counted(tmp_path, mode, kept):
    row = "東京は晴れです。\n".encode() + b"\xff\xfe" + "の文です。".encode()
    offsets = pa.py_buffer(np.array([0, len(row)], dtype=np.int32).tobytes())
    column = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(row)])  # not validated, as some writers do
    pq.write_table(pa.table({"text": column}), tmp_path / "bad.parquet")
    _, report = build(tmp_path, [tmp_path / "bad.parquet"], read=ReadConfig(invalid_utf8=mode))
    assert report.counts["input:invalid_utf8_lines"] == 1
    assert corpus(tmp_path / "out")["dev"] == [kept]


def test_missing_listed_data_file_is_a_clear_error(tmp_path):
    Dataset.from_dict({"text": ROWS}).save_to_disk(tmp_path / "ds", num_shards=2)
    (tmp_path / "ds" / "data-00001-of-00002.arrow").unlink()
    with pytest.raises(JarobertaError, match="lacks data files.*data-00001-of-00002.arrow"):
        build(tmp_path, [tmp_path / "ds"])


def test_missing_pyarrow_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    path = write_parquet(tmp_path / "ja.parquet", ROWS[:5])
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(JarobertaError, match=r"pip install 'jaroberta\[corpus\]'"):
        build(tmp_path, [path])
