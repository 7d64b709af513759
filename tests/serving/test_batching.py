"""The embedding worker: merges queued requests into one call, skips expired or cancelled ones."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from router_ml.serving.batching import EmbeddingWorker
from router_ml.serving.status import DeadlinePassedError, OverloadedError


class HeldEncoder:
    """Records every encoder call; the first one waits until released."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def outcomes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(list(texts))
        self.entered.set()
        assert self.release.wait(10)
        lengths = np.array([[float(len(t))] for t in texts])
        return lengths, -lengths


@pytest.fixture
def worker():
    durations: list[float] = []
    started = EmbeddingWorker(max_batch=4, observe=durations.append)
    started.start()
    yield started
    started.stop()


def test_queued_requests_share_one_encoder_call(worker: EmbeddingWorker) -> None:
    encoder, other = HeldEncoder(), HeldEncoder()
    other.release.set()
    first = worker.submit(encoder, ["a"], None)
    assert encoder.entered.wait(10)
    later = time.monotonic() + 60
    merged = [worker.submit(encoder, ["bb", "ccc"], later), worker.submit(encoder, ["dddd"], later)]
    separate = worker.submit(other, ["eeeee"], later)
    overflow = worker.submit(encoder, ["ffffff"], later)
    cancelled = worker.submit(encoder, ["never"], later)
    assert cancelled.cancel()
    expired = worker.submit(encoder, ["too late"], time.monotonic())
    encoder.release.set()
    assert [a.tolist() for a in first.result(10)] == [[[1.0]], [[-1.0]]]
    assert [a.tolist() for a in merged[0].result(10)] == [[[2.0], [3.0]], [[-2.0], [-3.0]]]
    assert merged[1].result(10)[0].tolist() == [[4.0]]
    assert separate.result(10)[0].tolist() == [[5.0]]
    assert overflow.result(10)[0].tolist() == [[6.0]]
    with pytest.raises(DeadlinePassedError):
        expired.result(10)
    assert encoder.calls == [["a"], ["bb", "ccc", "dddd"], ["ffffff"]]
    assert other.calls == [["eeeee"]]


def test_encoder_errors_reach_the_caller(worker: EmbeddingWorker) -> None:
    class Broken:
        def outcomes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
            raise RuntimeError("encoder exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        worker.submit(Broken(), ["x"], None).result(10)
    assert worker.submit(Broken(), ["y"], None).exception(10) is not None


class EchoEncoder:
    """Embeds each text as its number; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def outcomes(self, texts: list[str]) -> tuple[np.ndarray]:
        self.calls += 1
        time.sleep(0.002)
        return (np.array([[float(t)] for t in texts]),)


def test_concurrent_callers_each_get_their_own_answer() -> None:
    encoder = EchoEncoder()
    worker = EmbeddingWorker(max_batch=64, observe=lambda seconds: None)
    worker.start()
    answers: dict[int, list[float]] = {}

    def call(n: int) -> None:
        texts = [str(n * 10 + k) for k in range(n % 3 + 1)]
        answers[n] = worker.submit(encoder, texts, None).result(10)[0][:, 0].tolist()

    callers = [threading.Thread(target=call, args=(n,)) for n in range(64)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    worker.stop()
    assert answers == {n: [float(n * 10 + k) for k in range(n % 3 + 1)] for n in range(64)}
    assert encoder.calls < 64


def test_work_that_cannot_finish_in_time_is_refused_at_once(worker: EmbeddingWorker) -> None:
    slow, held = HeldEncoder(), HeldEncoder()
    threading.Timer(0.3, slow.release.set).start()
    worker.submit(slow, ["measured"], None).result(10)
    assert worker.seconds_per_prompt >= 0.3
    first = worker.submit(held, ["holds the encoder"], None)
    assert held.entered.wait(10)
    with pytest.raises(OverloadedError, match="1 prompts are queued ahead"):
        worker.submit(held, ["would end after its deadline"], time.monotonic() + 0.4)
    in_time = worker.submit(held, ["ends in time"], time.monotonic() + 60)
    no_deadline = worker.submit(held, ["never refused"], None)
    cancelled = worker.submit(held, ["cancelled"], time.monotonic() + 60)
    assert worker.outstanding == 4
    assert cancelled.cancel() and worker.outstanding == 3
    held.release.set()
    for future in (first, in_time, no_deadline):
        future.result(10)
    assert worker.outstanding == 0
    assert worker.submit(held, ["queue empty: admitted"], time.monotonic() + 0.25).result(10)
