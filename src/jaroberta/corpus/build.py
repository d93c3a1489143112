"""`jaroberta corpus build`: raw inputs -> a clean corpus folder (layout in `layout.py`).

    config -> inputs (or the default corpus) -> state (resume) -> per input:
        chunks (main) -> parse + clean (workers) -> dedup + split + write (main)
    -> dev never empty -> manifest + report

Determinism: chunks go to workers and come back in input order, dedup keeps the first
occurrence in that order, and the split depends only on a document's digest; so any
`--workers` gives byte-identical output.

Resume: every input writes its parts as `*.partial` and renames them when it is finished,
then writes a completion marker in `.state/` with its counts and the digests it added to
the dedup sets. A rerun loads finished inputs' digests and skips them.

Sharding (`--shard i/N`): chunk k of input j belongs to shard (j + k) mod N, so one big
file and many small files both spread evenly, with no coordination between machines.
Part names carry the shard, so the shards' train/ and dev/ folders can be copied together.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import resource
import shutil
import signal
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from jaroberta.corpus import layout
from jaroberta.corpus.clean import CleanConfig, CleanedChunk, Cleaner, document_hash
from jaroberta.corpus.debian import default_corpus
from jaroberta.corpus.dedup import HashSet, NearDuplicates, digests
from jaroberta.corpus.readers import (
    InputFile,
    ReadConfig,
    ReadError,
    SkipInput,
    discover_inputs,
    input_key,
    parse_chunk,
    read_chunks,
)
from jaroberta.corpus.report import CorpusReport
from jaroberta.corpus.split import dev_threshold, split_of
from jaroberta.corpus.tables import TABLE_FORMATS, parse_table_chunk, read_table_chunks, resolve_tables
from jaroberta.errors import JarobertaError
from jaroberta.core.files import write_atomic
from jaroberta.core.workers import exit_with_parent
from jaroberta.core.progress import progress_bar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    """What `jaroberta corpus build` does."""

    out: Path
    """Corpus folder to write."""
    inputs: tuple[Path, ...] = ()
    """Files or folders to read; empty = the default corpus (Debian's Japanese documentation)."""
    read: ReadConfig = field(default_factory=ReadConfig)
    """How inputs are read."""
    clean: CleanConfig = field(default_factory=CleanConfig)
    """What the cleaning rules keep."""
    dev_fraction: float = 0.01
    """Share of documents in the dev split (by document digest; never empty)."""
    near_dup: float | None = None
    """Jaccard threshold of the MinHash near-duplicate filter; None = off."""
    workers: int = 1
    """Cleaning processes (1 = clean in the main process)."""
    shard: tuple[int, int] = (0, 1)
    """(i, N): build only shard i of N."""
    overwrite: bool = False
    """Start over where OUT holds a build made with other inputs or options."""
    progress: bool = True
    """Show a progress bar."""
    cache_dir: Path | None = None
    """Where the default corpus is downloaded and extracted (default: the user's cache dir)."""

    def __post_init__(self) -> None:
        dev_threshold(self.dev_fraction)
        if self.workers < 1:
            raise JarobertaError(f"workers must be at least 1, got {self.workers}")
        index, count = self.shard
        if not (count >= 1 and 0 <= index < count):
            raise JarobertaError(f"shard must be (i, N) with 0 <= i < N, got {index}/{count}")
        if self.near_dup is not None and not 0.0 < self.near_dup < 1.0:
            raise JarobertaError(f"near_dup must be a Jaccard threshold between 0 and 1, got {self.near_dup}")

    def fingerprint(self) -> dict:
        """The options that change the output: a resumed build must use the same ones."""
        return {
            "read": asdict(self.read),
            "clean": asdict(self.clean),
            "dev_fraction": self.dev_fraction,
            "near_dup": self.near_dup,
            "shard": list(self.shard),
        }


def build_corpus(config: BuildConfig) -> CorpusReport:
    """Build the corpus folder `config.out`; returns (and writes, and prints) its report."""
    sources, paths = _resolve_sources(config)
    inputs = resolve_tables(discover_inputs(paths, config.read), config.read)
    state = BuildState(config, inputs)
    builder = _Builder(config, state)
    started = time.monotonic()
    builder.run(inputs)
    report = summarize(config, inputs, state, sources, seconds=time.monotonic() - started)
    move_one_document_to_dev_if_empty(config.out, state, report)
    report.write(config.out)
    print(report.table())
    if report.documents == 0:
        raise JarobertaError(
            f"no text left in {config.out} after cleaning: see {config.out / layout.REPORT_TXT} for what each rule dropped"
        )
    return report


def _resolve_sources(config: BuildConfig) -> tuple[list[dict], list[Path]]:
    if config.inputs:
        sources = [{"name": str(path), "license": "not recorded (user input)"} for path in config.inputs]
        return sources, list(config.inputs)

    default = default_corpus(config.cache_dir)
    return default.sources, default.files


# -- state: what a rerun may skip ------------------------------------------------------------
class BuildState:
    """`.state/` in the corpus folder: the build's options and inputs, and finished inputs."""

    def __init__(self, config: BuildConfig, inputs: list[InputFile]):
        self.config = config
        self.folder = config.out / layout.STATE_DIR
        self.keys = [input_key(i, item) for i, item in enumerate(inputs)]
        self.suffix = "" if config.shard[1] == 1 else f".s{config.shard[0]}of{config.shard[1]}"
        plan = {"options": config.fingerprint(), "inputs": [[key, str(item.path), item.size] for key, item in zip(self.keys, inputs)]}
        self._open(json.loads(json.dumps(plan)))  # as it reads back from disk (tuples -> lists)

    def _open(self, plan: dict) -> None:
        out = self.config.out
        plan_file = self.folder / "build.json"
        if plan_file.exists() and not self.config.overwrite:
            previous = json.loads(plan_file.read_text(encoding="utf-8"))
            if previous == plan:
                return
            raise JarobertaError(
                f"{out} holds a build made with other inputs or options: pass --overwrite to start over, or choose another OUT"
            )
        if out.exists() and not out.is_dir():
            raise JarobertaError(f"OUT {out} exists and is not a folder")
        if out.exists() and any(out.iterdir()) and not plan_file.exists() and not self.config.overwrite:
            raise JarobertaError(f"OUT {out} is not empty and is not a corpus folder: choose another folder or overwrite it (overwrite)")
        for name in (*layout.SPLITS, layout.REJECTED_DIR, layout.STATE_DIR):
            shutil.rmtree(out / name, ignore_errors=True)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(plan_file, json.dumps(plan, ensure_ascii=False, indent=1) + "\n")
        except OSError as exc:
            raise JarobertaError(f"cannot write the corpus folder {out}: {exc.strerror or exc}") from exc

    def part_name(self, key: str) -> str:
        return key + self.suffix

    def marker(self, key: str) -> Path:
        return self.folder / f"{self.part_name(key)}.done.json"

    def finished(self, key: str) -> dict | None:
        marker = self.marker(key)
        return json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None

    def digest_file(self, key: str, kind: str) -> Path:
        return self.folder / f"{self.part_name(key)}.{kind}.u64"

    def finish(self, key: str, record: dict) -> None:
        write_atomic(self.marker(key), json.dumps(record, ensure_ascii=False, indent=1) + "\n")

    def records(self) -> list[dict]:
        return [record for key in self.keys if (record := self.finished(key)) is not None]


# -- workers -----------------------------------------------------------------------------------
@dataclass
class _Job:
    """What a worker needs (pickles): parse a chunk, clean it, sign it for near-dup."""

    read: ReadConfig
    cleaner: Cleaner
    near: NearDuplicates | None

    def __call__(self, task: tuple[bytes, str, int]) -> tuple[CleanedChunk, list[np.ndarray] | None, int, int]:
        chunk, fmt, position = task
        counts: Counter = Counter()
        parse = parse_table_chunk if fmt in TABLE_FORMATS else parse_chunk
        result = self.cleaner.clean(parse(chunk, fmt, self.read, counts))
        result.counts.update(counts)
        signatures = [self.near.signature(doc) for doc in result.documents] if self.near else None
        return result, signatures, position, len(chunk)


_WORKER_JOB: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job
    # a killed parent must not leave workers that print BrokenPipeError tracebacks
    exit_with_parent()
    # Ctrl-C is the main process's to handle (it discards partial parts, then stops the pool);
    # workers would otherwise each print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_in_worker(task):
    return _WORKER_JOB(task)


class _Workers:
    """Ordered, bounded map over worker processes (or in-process for one worker).

    Pool.imap would read the whole input ahead into its task queue; here at most two
    chunks per worker are in flight, so memory stays flat.
    """

    def __init__(self, count: int, job: _Job):
        self.job = job
        self.count = count
        self.pool = multiprocessing.get_context().Pool(count, _init_worker, (job,)) if count > 1 else None

    def map(self, tasks: Iterator) -> Iterator:
        if self.pool is None:
            yield from map(self.job, tasks)
            return
        pending: deque = deque()
        stopped: Exception | None = None
        try:
            for task in tasks:
                pending.append(self.pool.apply_async(_run_in_worker, (task,)))
                if len(pending) >= 2 * self.count:
                    yield pending.popleft().get()
        except Exception as exc:  # the reader broke off (e.g. a truncated archive): keep what it gave
            stopped = exc
        while pending:
            yield pending.popleft().get()
        if stopped is not None:
            raise stopped

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


# -- the main loop ---------------------------------------------------------------------------
class _Builder:
    def __init__(self, config: BuildConfig, state: BuildState):
        self.config = config
        self.state = state
        self.threshold = dev_threshold(config.dev_fraction)
        self.sentences = HashSet() if config.clean.enabled("sentence_dedup") else None
        self.documents = HashSet() if config.clean.enabled("document_dedup") else None
        self.near = NearDuplicates(config.near_dup) if config.near_dup is not None else None

    def run(self, inputs: list[InputFile]) -> None:
        todo = [(key, item) for key, item in zip(self.state.keys, inputs) if not self._resume(key)]
        done_bytes = sum(item.size for item in inputs) - sum(item.size for _, item in todo)
        if not todo:
            log.info("all %d inputs already finished in %s", len(inputs), self.config.out)
            return
        if done_bytes:
            log.info("resuming: %d of %d inputs already finished", len(inputs) - len(todo), len(inputs))

        job = _Job(self.config.read, Cleaner(self.config.clean), self.near)
        workers = _Workers(self.config.workers, job)
        bar = progress_bar(total=sum(item.size for item in inputs), initial=done_bytes, unit="B", unit_scale=True,
                   desc="corpus build", disable=not self.config.progress, mininterval=0.5, smoothing=0.1)
        try:
            for key, item in todo:
                bar.set_postfix_str(item.path.name[-40:], refresh=False)
                self._build_input(key, item, workers, bar)
        finally:
            workers.close()
            bar.close()

    def _resume(self, key: str) -> bool:
        """Load a finished input's dedup digests; False where it must be (re)built."""
        if self.state.finished(key) is None:
            return False
        for kind, seen in (("sentences", self.sentences), ("documents", self.documents)):
            path = self.state.digest_file(key, kind)
            if seen is not None and path.exists():
                seen.add(np.fromfile(path, dtype="<u8").astype(np.uint64, copy=False))
        path = self.state.digest_file(key, "signatures")
        if self.near is not None and path.exists():
            for signature in np.fromfile(path, dtype="<u8").reshape(-1, self.near.num_perm):
                self.near.is_duplicate(signature.astype(np.uint64))
        return True

    def _build_input(self, key: str, item: InputFile, workers: _Workers, bar) -> None:
        parts = _Parts(self.config.out, self.state, key, self.config.clean.keep_rejected)
        counts: Counter = Counter({"input:files": 1, "input:bytes": item.size})
        problems: list[str] = []
        consumed = 0
        try:
            for result, signatures, position, size in workers.map(self._tasks(key, item, counts)):
                counts["input:decompressed_bytes"] += size
                counts.update(result.counts)
                self._absorb(result, signatures, parts, counts)
                bar.update(position - consumed)
                consumed = position
        except SkipInput as exc:
            counts["input:skipped_files"] += 1
            problems.append(f"{item.path}: skipped: {exc}")
        except ReadError as exc:
            counts["input:read_errors"] += 1
            problems.append(f"{exc}; kept the {counts['input:documents']} documents decoded before it")
        except BaseException:
            parts.discard()
            raise
        bar.update(max(0, item.size - consumed))
        if not problems and counts["input:documents"] == 0 and counts["input:decompressed_bytes"]:
            problems.append(f"{item.path}: no documents (only blank lines or records without text)")
        elif not problems and counts["input:documents"] and not parts.documents:
            problems.append(f"{item.path}: nothing kept: every sentence was dropped by the cleaning rules (no Japanese text?)")
        for problem in problems:
            log.warning("warning: %s", problem)
        parts.commit()
        self.state.finish(key, {"path": str(item.path), "counts": dict(counts), "problems": problems,
                                "splits": parts.stats, "min_train": parts.min_train})

    def _tasks(self, key: str, item: InputFile, counts: Counter) -> Iterator[tuple[bytes, str, int]]:
        index, shards = self.config.shard
        offset = self.state.keys.index(key)
        read = read_table_chunks if item.format in TABLE_FORMATS else read_chunks
        for number, (chunk, position) in enumerate(read(item, self.config.read, counts)):
            if (offset + number) % shards == index:
                yield chunk, item.format, position

    def _absorb(self, result: CleanedChunk, signatures, parts: "_Parts", counts: Counter) -> None:
        """Dedup (documents, near, sentences) in corpus order, then split and write."""
        parts.write_rejected(result.rejected)
        documents = result.documents
        doc_digests = np.array(result.document_hashes, dtype=np.uint64)
        keep = self.documents.add(doc_digests) if self.documents is not None else np.ones(len(documents), dtype=bool)
        for i in np.flatnonzero(~keep):
            parts.reject("document_dedup", documents[i], counts)
        if self.near is not None:
            for i in np.flatnonzero(keep):
                if self.near.is_duplicate(signatures[i]):
                    keep[i] = False
                    parts.reject("near_dedup", documents[i], counts)
                else:
                    parts.add_digests("signatures", signatures[i])
        sentence_digests = digests(result.sentence_hashes)
        ends = np.cumsum([len(doc) for doc in documents])
        starts = ends - np.array([len(doc) for doc in documents], dtype=ends.dtype) if len(documents) else ends
        if self.sentences is not None and len(documents):
            wanted = np.repeat(keep, [len(doc) for doc in documents])
            fresh = np.zeros(len(sentence_digests), dtype=bool)
            fresh[wanted] = self.sentences.add(sentence_digests[wanted])
            parts.add_digests("sentences", sentence_digests[fresh])
        else:
            fresh = np.ones(len(sentence_digests), dtype=bool)
        parts.add_digests("documents", doc_digests[keep])
        all_fresh = bool(fresh.all())
        for i in np.flatnonzero(keep):
            document = documents[i]
            mask = None if all_fresh else fresh[starts[i] : ends[i]]
            if mask is not None and not mask.all():
                dropped = [s for s, m in zip(document, mask) if not m]
                for sentence in dropped:
                    parts.reject("sentence_dedup", [sentence], counts)
                document = [s for s, m in zip(document, mask) if m]
                if not document:
                    counts["sentence_dedup:emptied_documents"] += 1
                    continue
                written = document_hash(document)
            else:
                written = int(doc_digests[i])
            # the split follows the digest before sentence dedup (stable whatever came before);
            # `written` identifies the text as written, for the dev fallback
            parts.write(split_of(int(doc_digests[i]), self.threshold), document, written)


class _Parts:
    """The part files of one input (train, dev, rejected, digests), committed atomically."""

    def __init__(self, out: Path, state: BuildState, key: str, keep_rejected: bool):
        name = state.part_name(key)
        self.final = {split: out / split / f"{name}{layout.PART_SUFFIX}" for split in layout.SPLITS}
        self.final["rejected"] = out / layout.REJECTED_DIR / f"{name}.jsonl"
        self.final["sentences"] = state.digest_file(key, "sentences")
        self.final["documents"] = state.digest_file(key, "documents")
        self.final["signatures"] = state.digest_file(key, "signatures")
        self.keep_rejected = keep_rejected
        self.handles: dict[str, object] = {}
        self.stats = {split: {"documents": 0, "sentences": 0, "characters": 0} for split in layout.SPLITS}
        self.documents = 0
        self.min_train: int | None = None
        for path in self.final.values():  # leftovers of an interrupted run
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".partial").unlink(missing_ok=True)

    def _handle(self, kind: str, binary: bool = False):
        if kind not in self.handles:
            path = self.final[kind]
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            self.handles[kind] = open(partial, "wb") if binary else open(partial, "w", encoding="utf-8")
        return self.handles[kind]

    def write(self, split: str, document: list[str], digest: int) -> None:
        layout.write_documents(self._handle(split), [document])
        stats = self.stats[split]
        stats["documents"] += 1
        stats["sentences"] += len(document)
        stats["characters"] += sum(map(len, document))
        self.documents += 1
        if split == "train" and (self.min_train is None or digest < self.min_train):
            self.min_train = digest

    def add_digests(self, kind: str, values: np.ndarray) -> None:
        if len(values):
            values.astype("<u8", copy=False).tofile(self._handle(kind, binary=True))

    def reject(self, rule: str, document: list[str], counts: Counter) -> None:
        unit = "documents" if rule != "sentence_dedup" else "sentences"
        counts[f"{rule}:dropped_{unit}"] += 1
        counts[f"{rule}:dropped_characters"] += sum(map(len, document))
        if self.keep_rejected:
            record = {"rule": rule, "text": "\n".join(document)}
            self._handle("rejected").write(json.dumps(record, ensure_ascii=False) + "\n")

    def write_rejected(self, rejected: list[tuple[str, str]]) -> None:
        handle = self._handle("rejected") if rejected else None
        for rule, text in rejected:
            handle.write(json.dumps({"rule": rule, "text": text}, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        for kind, handle in self.handles.items():
            handle.close()
            path = self.final[kind]
            os.replace(path.with_name(path.name + ".partial"), path)
        self.handles = {}

    def discard(self) -> None:
        for kind, handle in self.handles.items():
            handle.close()
            path = self.final[kind]
            path.with_name(path.name + ".partial").unlink(missing_ok=True)
        self.handles = {}


def summarize(config: BuildConfig, inputs: list[InputFile], state: BuildState, sources: list[dict], seconds: float) -> CorpusReport:
    """Sum the completion markers of every input into the report."""
    counts: Counter = Counter()
    splits = {name: {"documents": 0, "sentences": 0, "characters": 0} for name in layout.SPLITS}
    problems: list[str] = []
    for record in state.records():
        counts.update(record["counts"])
        problems.extend(record["problems"])
        for name, numbers in record["splits"].items():
            for what, n in numbers.items():
                splits[name][what] += n
    megabytes = sum(item.size for item in inputs) / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    run = {
        "out": str(config.out),
        "workers": config.workers,
        "shard": f"{config.shard[0]}/{config.shard[1]}",
        "seconds": round(seconds, 3),
        "mb_per_s": round(megabytes / seconds, 3) if seconds > 0 else 0.0,
        "peak_rss_mb": round(peak, 1),
        "memory": "exact dedup keeps 8 bytes per distinct sentence and document (sorted uint64 arrays, "
                  "twice that while merging); text is streamed in chunks of about --chunk-bytes",
    }
    return CorpusReport(splits=splits, counts=dict(counts), sources=sources, problems=problems,
                        options=config.fingerprint(), run=run)

def move_one_document_to_dev_if_empty(out: Path, state: BuildState, report: CorpusReport) -> None:
    """Keep dev non-empty: move the train document with the smallest digest (deterministic)."""
    done = state.folder / "dev_fallback.json"
    if done.exists():  # a rerun of a finished build: the move is already on disk
        record = json.loads(done.read_text(encoding="utf-8"))
        if record["copied"]:
            report.notes.append("the corpus has a single document: dev is a copy of it")
        report.move_to_dev(record["document"], copied=record["copied"])
        return
    if report.splits["dev"]["documents"] or report.splits["train"]["documents"] == 0:
        return
    records = [(r["min_train"], key) for key in state.keys if (r := state.finished(key)) and r["min_train"] is not None]
    digest, key = min(records)
    name = state.part_name(key) + layout.PART_SUFFIX
    train_part, dev_part = out / "train" / name, out / "dev" / name
    moved, kept = None, []
    for document in layout.read_documents(train_part):
        if moved is None and document_hash(document) == digest:
            moved = document
        else:
            kept.append(document)
    if moved is None:  # the part was edited by hand: leave it, say so
        log.warning("warning: could not find the document to move to dev in %s", train_part)
        return
    dev_part.parent.mkdir(parents=True, exist_ok=True)
    copied = report.splits["train"]["documents"] == 1
    if copied:  # a corpus of one document: dev is a copy, and the report says so
        kept = [moved]
        report.notes.append("the corpus has a single document: dev is a copy of it")
    if kept:
        _rewrite(train_part, kept)
    else:
        train_part.unlink()
    _rewrite(dev_part, [moved])
    write_atomic(done, json.dumps({"document": moved, "copied": copied}, ensure_ascii=False) + "\n")
    report.move_to_dev(moved, copied=copied)


def _rewrite(path: Path, documents: list[list[str]]) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        layout.write_documents(handle, documents)
    os.replace(partial, path)

