"""Dynamic micro-batching: requests from many clients share one forward pass.

Each request becomes a `Job` in a bounded asyncio queue (full -> `QueueFull`, the app
answers 503). One worker task takes the first job, keeps collecting for up to
`max_wait_ms` or until `max_batch` texts, groups the jobs that can share a forward
pass, and runs each group in ONE model thread (torch releases the GIL, so the event
loop keeps accepting requests meanwhile).

The traps:
- A request that timed out is still in the queue; its future is cancelled, and the
  worker skips it instead of spending the model on nobody.
- One bad input must not fail its neighbours, nor cost them a forward pass: input the
  schema can judge is refused before it is queued; a text only the model can judge (too
  many pieces) comes back from the backend as an exception in its result slot, and only
  its job fails. If a batch raises anyway, every job in it is run again alone, and only
  the one that still fails gets the error.
- Waiting costs a lone client max_wait_ms on every request for nothing, so with
  `adaptive_wait` the worker only waits when the last batch held more than one request
  (traffic is heavy enough to batch); requests that pile up during a forward pass are
  batched either way.
- Fill-mask jobs asking different top_k share a pass: the batch asks the largest
  top_k and each job keeps its own first k (candidates come sorted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from jaroberta.service.backend import Backend
from jaroberta.service.config import ServeConfig

log = logging.getLogger(__name__)

_POLL_S = 0.001
"""How often the collecting worker looks for more jobs while it waits."""


class QueueFull(Exception):
    """The queue holds `queue_size` requests already: answer 503 and ask to retry."""


class RequestTimeout(Exception):
    """The request was not answered within `timeout_s`."""


class TextRejected(Exception):
    """The backend refused text `index` of a request (the rest of its batch ran)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class Job:
    """One request's texts on their way to the model."""

    kind: str
    """'fill_mask', 'score' or 'embed' (see `_RUNNERS`)."""
    texts: list[str]
    options: dict[str, Any]
    future: asyncio.Future

    @property
    def group_key(self) -> tuple:
        """Jobs with equal keys can share one forward pass (top_k is merged, see module doc)."""
        shared = tuple(sorted((k, v) for k, v in self.options.items() if k != "top_k"))
        return (self.kind, shared)


@dataclass
class BatchStats:
    """Counters reported by /api/health."""

    requests: int = 0
    batches: int = 0
    largest_batch: int = 0
    rejected: int = 0
    timeouts: int = 0
    failures: int = 0


def _truncate(options: dict) -> dict:
    # Passed only when asked for: a backend without truncation still serves every other request.
    return {"truncate": True} if options.get("truncate") else {}


def _run_fill_mask(backend: Backend, texts: list[str], options: dict) -> list:
    return backend.fill_mask(texts, options["top_k"], **_truncate(options))


def _run_score(backend: Backend, texts: list[str], options: dict) -> list:
    return backend.score(texts, **_truncate(options))


def _run_embed(backend: Backend, texts: list[str], options: dict) -> list:
    return backend.embed(texts, options["pooling"], options["normalize"], **_truncate(options))


_RUNNERS: dict[str, Callable[[Backend, list[str], dict], list]] = {
    "fill_mask": _run_fill_mask,
    "score": _run_score,
    "embed": _run_embed,
}


def _merged_options(jobs: list[Job]) -> dict:
    options = dict(jobs[0].options)
    if "top_k" in options:
        options["top_k"] = max(job.options["top_k"] for job in jobs)
    return options


def _keep_own_top_k(job: Job, results: list) -> list:
    top_k = job.options.get("top_k")
    if top_k is None:
        return results
    for result in results:
        for mask in result["masks"]:
            mask["candidates"] = mask["candidates"][:top_k]
    return results


class MicroBatcher:
    """The queue, the worker task and the one model thread."""

    def __init__(self, backend: Backend, config: ServeConfig) -> None:
        self.backend = backend
        self.config = config
        self.stats = BatchStats()
        self._queue: asyncio.Queue[Job] | None = None
        self._carry: Job | None = None  # a job that did not fit in the last batch
        self._light_traffic = False  # the last batch held a single request
        self._calls = 0  # unbatched calls admitted and not yet answered
        self._worker: asyncio.Task | None = None
        # One thread: the model and the MeCab tagger are never used from two threads at once.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jaroberta-model")

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        self._worker = asyncio.create_task(self._work(), name="jaroberta-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            self._fail(self._queue.get_nowait(), RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def _admit(self) -> None:
        """Refuse work beyond `queue_size` waiting requests, batched or not (tokenize, info)."""
        if self.depth + self._calls >= self.config.queue_size:
            self.stats.rejected += 1
            raise QueueFull(f"the server is busy: {self.config.queue_size} requests are already waiting")

    # -- the request side -----------------------------------------------------------
    async def submit(self, kind: str, texts: list[str], **options) -> list:
        """Queue `texts` for the model and wait for their results (one per text)."""
        if kind not in _RUNNERS:
            raise ValueError(f"unknown job kind {kind!r}; known: {sorted(_RUNNERS)}")
        job = Job(kind, list(texts), options, asyncio.get_running_loop().create_future())
        self._admit()
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.stats.rejected += 1
            raise QueueFull(f"the server is busy: {self.config.queue_size} requests are already waiting") from None
        try:
            return await asyncio.wait_for(job.future, self.config.timeout_s)
        except asyncio.TimeoutError:
            self.stats.timeouts += 1
            raise RequestTimeout(f"no answer within {self.config.timeout_s:g} s") from None

    async def call(self, fn: Callable, *args) -> Any:
        """Run a quick, unbatched backend call (tokenize, info) in the model thread."""
        loop = asyncio.get_running_loop()
        self._admit()
        self._calls += 1
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), self.config.timeout_s)
        except asyncio.TimeoutError:
            self.stats.timeouts += 1
            raise RequestTimeout(f"no answer within {self.config.timeout_s:g} s") from None
        finally:
            self._calls -= 1

    # -- the worker side ------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            jobs = await self._collect()
            live = [job for job in jobs if not job.future.done()]  # timed-out requests are skipped
            for group in self._groups(live):
                await self._run_isolated(group)

    async def _collect(self) -> list[Job]:
        """The next batch: the first job, then more for up to max_wait_ms or max_batch texts."""
        first = self._carry or await self._queue.get()
        self._carry = None
        jobs, n_texts = [first], len(first.texts)
        wait_s = 0.0 if self.config.adaptive_wait and self._light_traffic else self.config.max_wait_ms / 1000
        deadline = time.monotonic() + wait_s
        while n_texts < self.config.max_batch:
            if self._queue.empty():
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(_POLL_S)
                continue
            job = self._queue.get_nowait()
            if n_texts + len(job.texts) > self.config.max_batch:
                self._carry = job  # first in the next batch: order is kept
                break
            jobs.append(job)
            n_texts += len(job.texts)
        self._light_traffic = len(jobs) == 1
        return jobs

    @staticmethod
    def _groups(jobs: list[Job]) -> list[list[Job]]:
        groups: dict[tuple, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.group_key, []).append(job)
        return list(groups.values())

    async def _run_isolated(self, jobs: list[Job]) -> None:
        """Run jobs as one batch; if it fails, run each alone so only the bad one fails."""
        try:
            results = await self._run_batch(jobs)
        except Exception as exc:  # noqa: BLE001 - any model error is isolated, never fatal
            if len(jobs) == 1:
                self._fail(jobs[0], exc)
                return
            log.info("a batch of %d requests failed (%s); retrying each alone", len(jobs), exc)
            for job in jobs:
                await self._run_isolated([job])
            return
        for job, job_results in zip(jobs, self._split(jobs, results)):
            refused = next(((i, r) for i, r in enumerate(job_results) if isinstance(r, Exception)), None)
            if refused is not None:
                self._fail(job, TextRejected(refused[0], str(refused[1])))
            elif not job.future.done():
                job.future.set_result(_keep_own_top_k(job, job_results))

    async def _run_batch(self, jobs: list[Job]) -> list:
        texts = [text for job in jobs for text in job.texts]
        runner = _RUNNERS[jobs[0].kind]
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, runner, self.backend, texts, _merged_options(jobs))
        if len(results) != len(texts):
            raise RuntimeError(f"the model answered {len(results)} results for {len(texts)} texts")
        self.stats.requests += len(jobs)
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
        return results

    @staticmethod
    def _split(jobs: list[Job], results: list) -> list[list]:
        out, start = [], 0
        for job in jobs:
            out.append(results[start : start + len(job.texts)])
            start += len(job.texts)
        return out

    def _fail(self, job: Job, exc: BaseException) -> None:
        self.stats.failures += 1
        if not job.future.done():
            job.future.set_exception(exc)
