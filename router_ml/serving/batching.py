"""One thread that encodes and scores prompts for every request, batching those that arrive together.

gRPC handler threads hand their texts to this worker and wait on a future with the time left
before their deadline. The worker runs the router's encoder and heads once for all queued texts
(:meth:`Router.outcomes`): one matrix product against the neighbours for 32 prompts costs far
less than 32 one-row products. The encoder therefore never runs on the server's accept path,
never runs twice at once on a small machine, and never starts work whose deadline has passed.

Admission: the worker keeps a running mean of encoder seconds per prompt. A request whose deadline
would pass before the prompts queued ahead of it and its own are encoded is refused at once
(:class:`OverloadedError`), so under overload the queue stays short enough to answer the requests
it holds in time, and the others fall back in a millisecond instead of at their deadline.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from router_ml.routing.router import Router
from router_ml.serving.status import DeadlinePassedError, OverloadedError

SECONDS_PER_PROMPT_WEIGHT = 0.2


@dataclass
class _Job:
    router: Router
    texts: list[str]
    deadline: float | None
    future: Future = field(default_factory=Future)

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


class EmbeddingWorker:
    """Score prompts on one background thread, merging queued requests into one call.

    Parameters
    ----------
    max_batch : prompts merged into one call (one request's prompts are never split).
    observe : called with the seconds each call took (for metrics).
    """

    def __init__(self, max_batch: int, observe: Callable[[float], None]) -> None:
        self.max_batch = max_batch
        self.observe = observe
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="router-ml-embed", daemon=True)
        self._lock = threading.Lock()
        self._outstanding = 0
        self.seconds_per_prompt: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish queued work, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def submit(self, router: Router, texts: list[str], deadline: float | None) -> Future:
        """Queue ``texts`` for ``router.outcomes``; ``deadline`` is a ``time.monotonic()`` value.

        The future holds the texts' rows of each array ``outcomes`` returns, or
        :class:`DeadlinePassedError` if the deadline passed first; cancelling it before the work
        starts skips the work.

        Raises
        ------
        OverloadedError
            When other prompts are queued and, at the measured seconds per prompt, encoding them
            and ``texts`` would end after ``deadline``. Without a deadline nothing is refused.
        """
        with self._lock:
            self._admit(len(texts), deadline)
            self._outstanding += len(texts)
        job = _Job(router, texts, deadline)
        job.future.add_done_callback(lambda _: self._finished(len(texts)))
        self._queue.put(job)
        return job.future

    @property
    def outstanding(self) -> int:
        """Prompts submitted and not yet answered (queued or being encoded)."""
        return self._outstanding

    def _admit(self, count: int, deadline: float | None) -> None:
        if deadline is None or not self._outstanding or self.seconds_per_prompt is None:
            return
        wait = (self._outstanding + count) * self.seconds_per_prompt
        if time.monotonic() + wait > deadline:
            raise OverloadedError(
                f"overloaded: {self._outstanding} prompts are queued ahead, about "
                f"{wait * 1000:.0f} ms of encoding, and the deadline is sooner"
            )

    def _finished(self, count: int) -> None:
        with self._lock:
            self._outstanding -= count

    def _measured(self, seconds: float, count: int) -> None:
        per_prompt = seconds / count
        with self._lock:
            previous = self.seconds_per_prompt
            self.seconds_per_prompt = (
                per_prompt
                if previous is None
                else previous + SECONDS_PER_PROMPT_WEIGHT * (per_prompt - previous)
            )

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            jobs, stop = self._gather(job)
            self._encode([j for j in jobs if self._claim(j)])
            if stop:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs, size = [first], len(first.texts)
        while size < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            size += len(job.texts)
        return jobs, False

    @staticmethod
    def _claim(job: _Job) -> bool:
        if not job.future.set_running_or_notify_cancel():
            return False
        if job.expired(time.monotonic()):
            job.future.set_exception(DeadlinePassedError("deadline passed before encoding"))
            return False
        return True

    def _encode(self, jobs: list[_Job]) -> None:
        for router in {id(j.router): j.router for j in jobs}.values():
            mine = [j for j in jobs if j.router is router]
            texts = [t for j in mine for t in j.texts]
            started = time.perf_counter()
            try:
                arrays = router.outcomes(texts)
            except Exception as exc:
                for j in mine:
                    j.future.set_exception(exc)
                continue
            seconds = time.perf_counter() - started
            self.observe(seconds)
            self._measured(seconds, len(texts))
            parts = [_split(a, [len(j.texts) for j in mine]) for a in arrays]
            for k, j in enumerate(mine):
                j.future.set_result(tuple(part[k] for part in parts))


def _split(array: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    return np.split(array, np.cumsum(sizes)[:-1])
