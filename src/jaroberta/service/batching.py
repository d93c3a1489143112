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
- A queue counted in requests admits more work than the model can finish in
  `timeout_s` when requests are heavy: every one of them then waits the whole timeout
  for a 504. Admission also weighs the work: each job costs units (characters per text
  for one pass; pieces times pieces per text for scoring, one masked copy per piece),
  priced by the seconds per unit the recent batches of its kind took (an exponential
  moving average). A job is admitted only while the work queued and running before it,
  plus its own, fits in `admit_share` of the timeout; else 503 at once, with a
  Retry-After of when it would fit. With estimates that hold, a job waits at most that
  share twice over (the work before it, then the work admitted behind it that shares
  its batch), so the default share of one half answers every admitted job in time.
  A kind no batch has measured yet admits at most two batches of texts (scoring: one
  request) beside the work measured.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from jaroberta.service.backend import Backend
from jaroberta.service.config import ServeConfig

log = logging.getLogger(__name__)

_POLL_S = 0.001
"""How often the collecting worker looks for more jobs while it waits."""


_EMA_WEIGHT = 0.3
"""Weight of the newest batch in the moving average of seconds per unit of work."""


class QueueFull(Exception):
    """The queue holds `queue_size` requests, or more work than the timeout allows: answer
    503 and ask to retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


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
    units: float = 0.0
    """The work this job asks of the model (see `work_units`)."""

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


def work_units(kind: str, texts: list[str], pieces: int | None = None) -> float:
    """The model work of a job, in units whose price in seconds the batcher measures per kind:
    one forward pass per text costs about its length (characters, a bound on its pieces,
    plus the framing); scoring makes one masked copy per piece, `pieces` copies of texts of
    about pieces / len(texts) pieces each."""
    if kind == "score":
        if pieces is None:
            return float(sum((len(t) + 2) ** 2 for t in texts))
        return pieces * (pieces / max(1, len(texts)) + 2)
    return float(sum(len(t) + 2 for t in texts))


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
        # The admission's ledger (see the module doc): units and texts per kind waiting in
        # the queue (or as the carry), the jobs taken by the worker and not yet answered,
        # and the measured seconds per unit of each kind.
        self._queued_units: dict[str, float] = {}
        self._queued_texts: dict[str, int] = {}
        self._running: list[Job] = []
        self._group_started = 0.0
        self._cycle_started = 0.0
        self.seconds_per_unit: dict[str, float] = {}
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

    def work_ahead_s(self) -> float:
        """Estimated seconds until the model has done every job queued or running now
        (kinds not measured yet count nothing)."""
        queued = sum(units * self.seconds_per_unit.get(kind, 0.0) for kind, units in self._queued_units.items())
        running = sum(job.units * self.seconds_per_unit.get(job.kind, 0.0) for job in self._running)
        return queued + max(0.0, running - (time.monotonic() - self._group_started))

    def _admit_work(self, job: Job) -> None:
        """Refuse a job the model could not finish, with the work before it, within the
        admitted share of the timeout (see the module doc)."""
        price = self.seconds_per_unit.get(job.kind)
        if price is None:
            # Not timed yet: a pass per text waits two batches at most; scoring, whose one batch
            # may hold hundreds of masked copies per text, one request at a time.
            queued = self._queued_texts.get(job.kind, 0)
            cap = 0 if job.kind == "score" else 2 * self.config.max_batch
            if queued and queued + len(job.texts) > cap:
                self.stats.rejected += 1
                raise QueueFull(f"the server is busy: {queued} texts are already waiting for a model not yet timed")
            self._refuse_beyond_budget(0.0)
            return
        self._refuse_beyond_budget(job.units * price)

    def check_room(self) -> None:
        """Refuse at once when the work queued already fills the admitted share of the timeout:
        for a route that asks the model thread something (its cost) before it submits, which
        would otherwise wait behind that work only to be refused."""
        self._admit()
        self._refuse_beyond_budget(0.0)

    def _refuse_beyond_budget(self, own_s: float) -> None:
        if not (self._running or self._queued_texts):
            return  # an idle model takes any job the limits allow
        budget = self.config.timeout_s * self.config.admit_share
        ahead = self.work_ahead_s()
        if ahead + own_s > budget or (own_s == 0 and ahead >= budget):
            self.stats.rejected += 1
            raise QueueFull(
                f"the server is busy: the work already queued would take about {ahead:.1f} s, more than this "
                f"request can wait", retry_after_s=max(1, math.ceil(ahead + own_s - budget)),
            )

    def _enqueued(self, job: Job, sign: int) -> None:
        kind = job.kind
        self._queued_units[kind] = self._queued_units.get(kind, 0.0) + sign * job.units
        self._queued_texts[kind] = self._queued_texts.get(kind, 0) + sign * len(job.texts)
        if self._queued_texts[kind] <= 0:
            del self._queued_units[kind], self._queued_texts[kind]

    def _measured(self, jobs: list[Job], seconds: float) -> None:
        """Fold one batch's time into its kind's seconds per unit."""
        units = sum(job.units for job in jobs)
        if units <= 0:
            return
        kind, price = jobs[0].kind, seconds / units
        before = self.seconds_per_unit.get(kind)
        self.seconds_per_unit[kind] = price if before is None else _EMA_WEIGHT * price + (1 - _EMA_WEIGHT) * before

    # -- the request side -----------------------------------------------------------
    async def submit(self, kind: str, texts: list[str], pieces: int | None = None, **options) -> list:
        """Queue `texts` for the model and wait for their results (one per text); `pieces`:
        how many pieces they have, where the caller counted them (prices a score job)."""
        if kind not in _RUNNERS:
            raise ValueError(f"unknown job kind {kind!r}; known: {sorted(_RUNNERS)}")
        job = Job(kind, list(texts), options, asyncio.get_running_loop().create_future(), work_units(kind, texts, pieces))
        self._admit()
        self._admit_work(job)
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.stats.rejected += 1
            raise QueueFull(f"the server is busy: {self.config.queue_size} requests are already waiting") from None
        self._enqueued(job, +1)
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
            self._running = live
            try:
                for group in self._groups(live):
                    self._group_started = time.monotonic()
                    await self._run_isolated(group)
                    self._running = [job for job in self._running if job not in group]
            finally:
                self._running = []

    async def _collect(self) -> list[Job]:
        """The next batch: the first job, then more for up to max_wait_ms or max_batch texts."""
        first = self._carry or await self._queue.get()
        self._cycle_started = time.monotonic()
        self._carry = None
        self._enqueued(first, -1)
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
            self._enqueued(job, -1)
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
        # Priced by the worker's whole cycle, not the model call alone: collecting, waiting for
        # the model thread behind unbatched calls, and an event loop busy with other clients
        # all delay the jobs behind this batch too.
        now = time.monotonic()
        self._measured(jobs, now - self._cycle_started)
        self._cycle_started = now
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
