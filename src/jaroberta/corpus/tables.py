"""Tables: Parquet files and Hugging Face `datasets` folders (`save_to_disk`), read through pyarrow.

Each Parquet or Arrow data file is one input, with the text path's resume and `--shard`
semantics: only the `--text-field` column is read, a batch of rows at a time, and cut into
chunks of about `chunk_bytes` of text that travel to the workers as Arrow IPC streams.

A Parquet file is read row group by row group: a damaged group (a page that does not
decode or fails its checksum) is skipped, counted and named with its rows, and the groups
after it are read on, so damage in one group costs only the rows that group could not give.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaroberta.corpus.readers import InputFile, ReadConfig, ReadError, SkipInput, utf8_lines
from jaroberta.deps import require
from jaroberta.errors import JarobertaError

log = logging.getLogger(__name__)

TABLE_FORMATS = ("parquet", "arrow")
DATASET_STATE = "state.json"
DATASET_INFO = "dataset_info.json"
DATASET_DICT = "dataset_dict.json"
_ARROW_FILE_MAGIC = b"ARROW1"  # the IPC *file* format (random access); datasets writes the stream format


# -- finding inputs ----------------------------------------------------------------------------
def resolve_tables(inputs: list[InputFile], config: ReadConfig) -> list[InputFile]:
    """Keep only the data files of `datasets` folders among `inputs`, and check every table's text column.

    A `datasets` folder holds metadata (`state.json`, `dataset_info.json`, a DatasetDict's
    `dataset_dict.json`) and may hold cache files of later `.map()` calls; its data are
    the Arrow files `state.json` lists. Raises JarobertaError where a listed file is missing
    or a table has no string column named `config.text_field`.
    """
    folders: dict[Path, list[Path] | None] = {}
    kept, ignored = [], Counter()
    for item in inputs:
        parent = item.path.parent
        if parent not in folders:
            folders[parent] = dataset_data_files(parent)
        data = folders[parent]
        if item.path.name == DATASET_DICT and _is_dataset_dict(parent):
            continue
        if data is not None and item.path not in data:
            if item.path.name not in (DATASET_STATE, DATASET_INFO):
                ignored[parent] += 1
            continue
        kept.append(item)
    for folder, count in ignored.items():
        log.warning("warning: %s is a datasets folder: ignored %d file(s) its %s does not list (e.g. cache files)",
                    folder, count, DATASET_STATE)
    kept = _in_listed_split_order(kept)
    for item in kept:
        if item.format in TABLE_FORMATS:
            check_text_column(item, config.text_field)
    return kept


def _in_listed_split_order(inputs: list[InputFile]) -> list[InputFile]:
    """`inputs` with each DatasetDict's splits in the order its `dataset_dict.json` lists them
    (["train", "test"] reads train first), not sorted by name; everything else keeps its place."""
    splits: dict[Path, list[str] | None] = {}
    for item in inputs:
        folder = item.path.parent.parent
        if folder not in splits:
            splits[folder] = _dataset_dict_splits(folder)
    ordered, placed = [], set()
    for item in inputs:
        folder = item.path.parent.parent
        names = splits[folder]
        if names is None or item.path.parent.name not in names:
            ordered.append(item)
        elif folder not in placed:  # the whole DatasetDict at its first file's place
            placed.add(folder)
            members = [i for i in inputs if i.path.parent.parent == folder and i.path.parent.name in names]
            ordered.extend(sorted(members, key=lambda i: names.index(i.path.parent.name)))  # stable: files keep their order
    return ordered


def dataset_data_files(folder: Path) -> list[Path] | None:
    """The Arrow data files of a `save_to_disk` folder, in order; None where `folder` is not one."""
    state = folder / DATASET_STATE
    if not (state.is_file() and (folder / DATASET_INFO).is_file()):
        return None
    try:
        files = [folder / entry["filename"] for entry in json.loads(state.read_text(encoding="utf-8"))["_data_files"]]
    except (ValueError, KeyError, TypeError):
        return None  # some other state.json: not a datasets folder
    missing = [path.name for path in files if not path.is_file()]
    if missing:
        raise JarobertaError(f"datasets folder {folder} lacks data files its {DATASET_STATE} lists: {', '.join(missing)}; "
                             "copy the whole folder that save_to_disk wrote")
    return files


def _is_dataset_dict(folder: Path) -> bool:
    return _dataset_dict_splits(folder) is not None


def _dataset_dict_splits(folder: Path) -> list[str] | None:
    """The splits a DatasetDict folder lists, in its order; None where `folder` is not one."""
    try:
        splits = json.loads((folder / DATASET_DICT).read_text(encoding="utf-8"))["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(splits, list) or not all(isinstance(s, str) and (folder / s / DATASET_STATE).is_file() for s in splits):
        return None
    return splits


def check_text_column(item: InputFile, field: str) -> None:
    """Raise JarobertaError where the table has no column `field`, or it does not hold strings.

    A file whose schema cannot be read is left to `read_table_chunks`, which skips it and
    says why in the report.
    """
    pa = require("pyarrow", f"reading {item.path}")
    try:
        schema = _schema(item)
    except (OSError, pa.ArrowException):
        return
    if field not in schema.names:
        raise JarobertaError(f"{item.path} has no column {field!r} (its columns: {', '.join(schema.names) or 'none'}): "
                             "pass --text-field with the column that holds the text")
    kind = schema.field(field).type
    if not _is_text(kind):
        strings = [f.name for f in schema if _is_text(f.type)]
        hint = f"string columns here: {', '.join(strings)}" if strings else "this file has no string column"
        raise JarobertaError(f"column {field!r} of {item.path} holds {kind}, not text: name a string column as text_field ({hint})")


def _is_text(kind) -> bool:
    pa = require("pyarrow")
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _schema(item: InputFile):
    pa = require("pyarrow", f"reading {item.path}")
    if item.format == "parquet":
        return require("pyarrow.parquet", f"reading {item.path}").read_schema(item.path)
    with pa.OSFile(str(item.path)) as source:
        magic = source.read(len(_ARROW_FILE_MAGIC))
        source.seek(0)
        reader = pa.ipc.open_file(source) if magic == _ARROW_FILE_MAGIC else pa.ipc.open_stream(source)
        return reader.schema


# -- streaming (main process) ----------------------------------------------------------------------
def read_table_chunks(item: InputFile, config: ReadConfig, counts: Counter,
                      problems: list[str] | None = None) -> Iterator[tuple[bytes, int]]:
    """Yield (chunk, bytes of the file read so far) for one table; a chunk is an Arrow IPC stream of text rows.

    Chunks are cut by the rows' lengths alone, so they (and the shards) do not depend on
    how the file was batched. Raises SkipInput where the file cannot be opened: a Parquet
    file keeps the index of its rows in a footer at its end, so a truncated one is refused
    whole. A damaged Parquet row group is skipped, counted and named in `problems`, and
    reading goes on. Raises ReadError where an Arrow stream breaks off; the rows read
    before are yielded first.
    """
    pa = require("pyarrow", f"reading {item.path}")
    try:
        table = _Table(item, config)
    except (FileNotFoundError, PermissionError) as exc:
        raise SkipInput(f"cannot open: {exc.strerror or exc}") from exc
    except (OSError, pa.ArrowException) as exc:
        counts["input:tables_refused"] += 1
        why = " (a truncated Parquet file has lost the footer that locates its rows)" if item.format == "parquet" else ""
        raise SkipInput(f"not a readable {_NAMES[item.format]} file ({exc}); the whole file was refused, "
                        f"nothing read from it{why}") from exc
    pending: list = []
    pending_bytes = 0
    problems = [] if problems is None else problems
    try:
        for column in table.columns(counts, problems):
            ends = np.cumsum(_text_lengths(column))
            start, base = 0, 0
            while start < len(column):
                # the row at which this chunk reaches chunk_bytes, found from the lengths alone
                stop = int(np.searchsorted(ends, base + config.chunk_bytes - pending_bytes)) + 1
                if stop > len(column):
                    pending.append(column.slice(start))
                    pending_bytes += int(ends[-1]) - base
                    break
                pending.append(column.slice(start, stop - start))
                yield _to_ipc(pending), table.position()
                pending, pending_bytes = [], 0
                start, base = stop, int(ends[stop - 1])
        if pending:
            yield _to_ipc(pending), table.position()
        if table.rows_read == 0 and not counts["input:damaged_row_groups"]:
            raise SkipInput("the table has no rows")
    except (OSError, pa.ArrowException) as exc:
        if pending:  # complete rows read before the damage are kept
            yield _to_ipc(pending), table.position()
        raise ReadError(f"{item.path}: read error ({exc.__class__.__name__}: {exc})") from exc
    finally:
        table.close()


_NAMES = {"parquet": "Parquet", "arrow": "Arrow"}


class _Table:
    """One Parquet or Arrow file, opened for streaming its text column."""

    def __init__(self, item: InputFile, config: ReadConfig):
        pa = require("pyarrow", f"reading {item.path}")
        self.size = item.size
        self.path = item.path
        self.field = config.text_field
        self.chunk_bytes = config.chunk_bytes
        self.rows_read = 0
        self.rows_done = 0  # Parquet: rows of the row groups finished, read or lost
        self.parquet = self.arrow_file = self.arrow_stream = None
        # not memory-mapped: mapped pages count as resident memory until the file is closed
        self.source = pa.OSFile(str(item.path))
        try:
            if item.format == "parquet":
                # pre_buffer would load a row group's whole column at once; a read buffer streams it page by page
                # page checksums, where the writer stored them, catch damage that would still decode
                self.parquet = require("pyarrow.parquet").ParquetFile(self.source, pre_buffer=False, buffer_size=1 << 20,
                                                                      page_checksum_verification=True)
            elif self.source.read(len(_ARROW_FILE_MAGIC)) == _ARROW_FILE_MAGIC:
                self.source.seek(0)
                self.arrow_file = pa.ipc.open_file(self.source)
            else:
                self.source.seek(0)
                self.arrow_stream = pa.ipc.open_stream(self.source)
        except BaseException:
            self.source.close()
            raise

    def columns(self, counts: Counter, problems: list[str]) -> Iterator:
        """The text column, one batch of rows at a time; a damaged Parquet row group is counted,
        named in `problems` and skipped."""
        if self.parquet is not None:
            yield from self._parquet_columns(counts, problems)
            return
        if self.arrow_file is not None:
            batches = (self.arrow_file.get_batch(i) for i in range(self.arrow_file.num_record_batches))
        else:
            batches = iter(self.arrow_stream)
        for batch in batches:
            self.rows_read += batch.num_rows
            yield _as_text(batch.column(self.field))

    def _parquet_columns(self, counts: Counter, problems: list[str]) -> Iterator:
        pa = require("pyarrow")
        metadata = self.parquet.metadata
        rows = _batch_rows(self.parquet, self.field, self.chunk_bytes)
        for group in range(metadata.num_row_groups):
            in_group, read = metadata.row_group(group).num_rows, 0
            try:
                # one column: decoding threads would only compete with the cleaning workers
                for batch in self.parquet.iter_batches(batch_size=rows, row_groups=[group], columns=[self.field],
                                                       use_threads=False):
                    read += batch.num_rows
                    self.rows_read += batch.num_rows
                    yield _as_text(batch.column(self.field))
            except (OSError, pa.ArrowException) as exc:
                lost = in_group - read
                counts["input:damaged_row_groups"] += 1
                counts["input:damaged_rows"] += lost
                decoded = f"; its first {read:,} rows decoded and were kept" if read else ""
                problems.append(f"{self.path}: Parquet row group {group} of {metadata.num_row_groups} is damaged "
                                f"({exc.__class__.__name__}: {exc}): {lost:,} of its {in_group:,} rows lost{decoded}; "
                                "the other row groups were read")
            self.rows_done += in_group

    def position(self) -> int:
        """Bytes of the file read so far (Parquet: estimated from the rows read)."""
        if self.parquet is not None:
            return self.size * self.rows_done // max(1, self.parquet.metadata.num_rows)
        return self.source.tell()

    def close(self) -> None:
        self.source.close()


def _batch_rows(table, field: str, chunk_bytes: int) -> int:
    """Rows per Parquet batch for about one chunk of text, from the row groups' sizes."""
    metadata = table.metadata
    index = table.schema_arrow.get_field_index(field)
    if metadata.num_rows == 0 or metadata.num_row_groups == 0 or index < 0:
        return 1024
    text_bytes = sum(metadata.row_group(g).column(index).total_uncompressed_size for g in range(metadata.num_row_groups))
    return int(np.clip(chunk_bytes * metadata.num_rows // max(1, text_bytes), 16, 65536))


def _as_text(column):
    """The column as string or large_string (dictionary-encoded and string_view columns are cast)."""
    pa = require("pyarrow")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return column.cast(pa.large_string())


def _text_lengths(column) -> np.ndarray:
    """Bytes of each row's text (0 for nulls)."""
    pc = require("pyarrow.compute")
    return pc.binary_length(column).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _to_ipc(arrays: list) -> bytes:
    """One record batch (so the bytes do not depend on how the file was batched) as an IPC stream."""
    pa = require("pyarrow")
    column = pa.concat_arrays(arrays) if len(arrays) > 1 else arrays[0]
    schema = pa.schema([("text", column.type)])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.record_batch([column], schema=schema))
    return sink.getvalue().to_pybytes()


# -- parsing (worker) --------------------------------------------------------------------------------
def parse_table_chunk(chunk: bytes, fmt: str, config: ReadConfig, counts: Counter) -> list[list[str]]:
    """Raw documents (lists of lines) of one chunk from `read_table_chunks`; null rows counted."""
    pa = require("pyarrow", "reading Parquet and Arrow files")
    column = pa.ipc.open_stream(chunk).read_all().column(0)
    if column.null_count:
        counts["input:null_rows"] += column.null_count
    try:
        texts = column.to_pylist()
    except UnicodeDecodeError:  # written by a tool that did not validate its strings
        texts = [None if raw is None else _decode(raw, config, counts) for raw in column.cast(pa.large_binary()).to_pylist()]
    limit = config.max_line_bytes
    documents = []
    for text in texts:
        if text is None:
            continue
        if "\x00" in text:
            counts["input:nul_bytes"] += text.count("\x00")
            text = text.replace("\x00", "")
        lines = text.split("\n")
        if len(text) > limit // 4:  # a char is at most 4 bytes
            kept = [line for line in lines if len(line.encode("utf-8")) <= limit]
            counts["input:long_lines"] += len(lines) - len(kept)
            lines = kept
        documents.append(lines)
    return documents


def _decode(raw: bytes, config: ReadConfig, counts: Counter) -> str:
    """A row's text with its invalid UTF-8 lines replaced or skipped (--invalid-utf8), and counted."""
    return "\n".join(utf8_lines(raw, config, counts))