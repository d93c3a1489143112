"""`jaroberta corpus build`: raw inputs -> a clean corpus folder (layout in `layout.py`).

    config -> inputs (or the default corpus) -> state (resume) -> per input:
        chunks (main) -> parse + clean (workers) -> dedup + split + write (main)
    -> dev never empty -> manifest + report

Determinism: chunks go to workers and come back in input order, dedup keeps the first
occurrence in that order, and the split depends only on a document's digest; so any
`--workers` gives byte-identical output.

Per chunk, dedup decides (`DedupFilters.keep` in `dedup.py`, which writes nothing) and
`_write_kept` writes what it kept, rejecting the rest with the rule that dropped it.

Resume (`state.py`): every input writes its parts as `*.partial` and renames them when it
is finished, then writes a completion marker in `.state/` with its counts and the digests
it added to the dedup sets. A rerun loads finished inputs' digests and skips them, so its
dedup state, report and rejected files are an uninterrupted build's.

A corrupt archive is found only once it has been read (its checks come after its text): the
input's parts are then discarded, the dedup state set back, and the input read again keeping
only the text its checks verified (`streams.py`).

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
from jaroberta.corpus.dedup import DedupFilters, Kept, NearDuplicates, digests
from jaroberta.corpus.readers import (
    InputFile,
    ReadConfig,
    ReadError,
    SkipInput,
    Unverified,
    discover_inputs,
    parse_chunk,
    read_chunks,
)
from jaroberta.corpus.report import CorpusReport
from jaroberta.corpus.split import dev_threshold, split_of
from jaroberta.corpus.state import DIGEST_KINDS, BuildState, PartFiles
from jaroberta.corpus.streams import Damage
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
    """Share of documents in the dev split (by the digest of the raw document; never empty)."""
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


class EmptyCorpus(JarobertaError):
    """Nothing was left after cleaning; `report` (written to the folder too) says what each rule dropped."""

    def __init__(self, message: str, report: CorpusReport):
        super().__init__(message)
        self.report = report


def build_corpus(config: BuildConfig) -> CorpusReport:
    """Build the corpus folder `config.out`; returns (and writes) its report.

    Raises EmptyCorpus, which carries the report, where no text is left after cleaning.
    """
    sources, paths = _resolve_sources(config)
    inputs = resolve_tables(discover_inputs(paths, config.read), config.read)
    state = BuildState(config.out, config.fingerprint(), config.shard, inputs, config.overwrite)
    builder = _Builder(config, state)
    started = time.monotonic()
    builder.run(inputs)
    report = summarize(config, inputs, state, sources, seconds=time.monotonic() - started)
    move_one_document_to_dev_if_empty(config.out, state, report)
    report.write(config.out)
    log.debug("%s", report.table())
    if report.documents == 0:
        raise EmptyCorpus(
            f"no text left in {config.out} after cleaning: see {config.out / layout.REPORT_TXT} for what each rule dropped",
            report,
        )
    return report


def _resolve_sources(config: BuildConfig) -> tuple[list[dict], list[Path]]:
    if config.inputs:
        sources = [{"name": str(path), "license": "not recorded (user input)"} for path in config.inputs]
        return sources, list(config.inputs)

    default = default_corpus(config.cache_dir)
    return default.sources, default.files


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
        self.near = NearDuplicates(config.near_dup) if config.near_dup is not None else None
        self.dedup = DedupFilters(documents=config.clean.enabled("document_dedup"),
                                  sentences=config.clean.enabled("sentence_dedup"), near=self.near)

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
        for kind in DIGEST_KINDS:
            values = self.state.digests(key, kind)
            if values is not None:
                self.dedup.remember(kind, values)
        return True

    def _build_input(self, key: str, item: InputFile, workers: _Workers, bar) -> None:
        before = self.dedup.snapshot()
        try:
            parts, counts, problems = self._read_input(key, item, workers, bar)
        except Unverified as exc:  # a corrupt archive: read it again, keeping only verified text
            self.dedup.restore(before)
            parts, counts, problems = self._read_input(key, item, workers, None, exc.damage)
        if not problems and counts["input:documents"] == 0 and counts["input:decompressed_bytes"]:
            problems.append(f"{item.path}: no documents (only blank lines or records without text)")
        elif not problems and counts["input:documents"] and not parts.documents:
            problems.append(f"{item.path}: nothing kept: every sentence was dropped by the cleaning rules (no Japanese text?)")
        for problem in problems:
            log.warning("warning: %s", problem)
        parts.commit()
        self.state.finish(key, {"path": str(item.path), "counts": dict(counts), "problems": problems,
                                "splits": parts.stats, "min_train": parts.min_train})

    def _read_input(self, key: str, item: InputFile, workers: _Workers, bar, damage: Damage | None = None,
                    ) -> tuple[PartFiles, Counter, list[str]]:
        """Read, clean, dedup and write one input into its (uncommitted) part files.

        `bar` is None on the second reading of a corrupt archive (its bytes were counted once).
        """
        parts = PartFiles(self.config.out, self.state, key, self.config.clean.keep_rejected)
        counts: Counter = Counter({"input:files": 1, "input:bytes": item.size})
        problems: list[str] = []
        consumed = 0
        try:
            for result, signatures, position, size in workers.map(self._tasks(key, item, counts, problems, damage)):
                counts["input:decompressed_bytes"] += size
                counts.update(result.counts)
                kept = self.dedup.keep(np.array(result.document_hashes, dtype=np.uint64), digests(result.sentence_hashes),
                                       [len(doc) for doc in result.documents], signatures)
                self._write_kept(result, kept, parts, counts)
                if bar is not None:
                    bar.update(position - consumed)
                consumed = position
        except SkipInput as exc:
            counts["input:skipped_files"] += 1
            problems.append(f"{item.path}: skipped: {exc}")
        except ReadError as exc:
            counts["input:read_errors"] += 1
            read = f"{counts['input:documents']:,} documents"
            problems.append(f"{exc} ({read} read)" if damage else f"{exc}; kept the {read} decoded before the break")
        except BaseException:
            parts.discard()
            raise
        if bar is not None:
            bar.update(max(0, item.size - consumed))
        return parts, counts, problems

    def _tasks(self, key: str, item: InputFile, counts: Counter, problems: list[str],
               damage: Damage | None) -> Iterator[tuple[bytes, str, int]]:
        index, shards = self.config.shard
        offset = self.state.keys.index(key)
        if item.format in TABLE_FORMATS:
            chunks = read_table_chunks(item, self.config.read, counts, problems)
        else:
            chunks = read_chunks(item, self.config.read, counts, problems, damage)
        for number, (chunk, position) in enumerate(chunks):
            if (offset + number) % shards == index:
                yield chunk, item.format, position

    def _write_kept(self, result: CleanedChunk, kept: Kept, parts: PartFiles, counts: Counter) -> None:
        """Write what dedup kept (split by document digest) and reject the rest with its rule."""
        parts.write_rejected(result.rejected)
        documents = result.documents
        for rule in ("document_dedup", "near_dedup"):  # the rejected file lists them rule by rule
            for i in sorted(i for i, why in kept.dropped.items() if why == rule):
                parts.reject(rule, documents[i], counts)
        for kind, values in kept.remembered.items():
            parts.add_digests(kind, values)
        all_fresh = bool(kept.sentences.all())
        end = 0
        for i, document in enumerate(documents):
            begin, end = end, end + len(document)  # the document's sentences in the chunk's sentence mask
            if not kept.documents[i]:
                continue
            digest = int(result.document_hashes[i])
            mask = None if all_fresh else kept.sentences[begin:end]
            if mask is not None and not mask.all():
                for sentence, fresh in zip(document, mask):
                    if not fresh:
                        parts.reject("sentence_dedup", [sentence], counts)
                document = [s for s, fresh in zip(document, mask) if fresh]
                if not document:
                    counts["sentence_dedup:emptied_documents"] += 1
                    continue
                written = document_hash(document)
            else:
                written = digest
            # the split follows the raw document's digest (stable whatever the cleaning rules or
            # what came before); `written` identifies the text as written, for the dev fallback
            parts.write(split_of(int(result.source_hashes[i]), self.threshold), document, written)


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

