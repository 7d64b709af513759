"""The fail-open clients' circuit breaker, against a real gRPC server on 127.0.0.1 that answers,
hangs past the deadline, or rejects on demand, and counts the Route calls that reach it."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import grpc
import pytest
from serving_helpers import HOST

from router_ml.breaker import CircuitBreaker
from router_ml.client import CIRCUIT_OPEN, EMPTY_ANSWER, AsyncRouterClient, RouterClient
from router_ml.v1 import router_pb2, router_pb2_grpc

PROMPT = "Which model should answer this?"
ROUTED = "routed-model"
DEADLINE = 0.2
FAILURES = 3
COOLDOWN = 0.4
TIMED_OUT = "DEADLINE_EXCEEDED"
BREAKER = {
    "timeout": DEADLINE,
    "fallback_model": "safe",
    "breaker_failures": FAILURES,
    "breaker_cooldown": COOLDOWN,
}


class FakeRouter(router_pb2_grpc.RouterServicer):
    """Answers ``ROUTED``, an empty model, INVALID_ARGUMENT, or hangs, as ``mode`` says."""

    def __init__(self) -> None:
        self.mode: Literal["answer", "empty", "invalid", "hang"] = "answer"
        self.calls = 0
        self.port = 0
        self.released = threading.Event()
        self._lock = threading.Lock()

    def Route(self, request, context):
        with self._lock:
            self.calls += 1
        if self.mode == "hang":
            self.released.wait(30)
        elif self.mode == "invalid":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "rejected")
        return router_pb2.RouteResponse(model="" if self.mode == "empty" else ROUTED)


@pytest.fixture
def fake() -> Iterator[FakeRouter]:
    router = FakeRouter()
    with ThreadPoolExecutor(32) as pool:
        server = grpc.server(pool)
        router_pb2_grpc.add_RouterServicer_to_server(router, server)
        router.port = server.add_insecure_port(f"{HOST}:0")
        server.start()
        try:
            yield router
        finally:
            router.released.set()
            server.stop(0)


def target(fake: FakeRouter) -> str:
    return f"{HOST}:{fake.port}"


def open_breaker(client: RouterClient, fake: FakeRouter) -> None:
    """``FAILURES`` timeouts in a row, each reaching the router."""
    fake.mode = "hang"
    assert [client.route(PROMPT).error for _ in range(FAILURES)] == [TIMED_OUT] * FAILURES


async def open_async_breaker(client: AsyncRouterClient, fake: FakeRouter) -> None:
    fake.mode = "hang"
    assert [(await client.route(PROMPT)).error for _ in range(FAILURES)] == [TIMED_OUT] * FAILURES


def wait_out_cooldown() -> None:
    time.sleep(COOLDOWN * 1.1)


def test_timeouts_open_it_and_then_calls_fall_back_at_once_without_a_call(
    fake: FakeRouter,
) -> None:
    with RouterClient(target(fake), **BREAKER) as client:
        open_breaker(client, fake)
        start = time.monotonic()
        results = [client.route(PROMPT) for _ in range(10)]
        elapsed = time.monotonic() - start
    assert {(r.model, r.fallback, r.error) for r in results} == {("safe", True, CIRCUIT_OPEN)}
    assert elapsed < DEADLINE, f"10 fallbacks took {elapsed:.3f} s, more than one timeout"
    assert fake.calls == FAILURES


def test_unavailable_opens_it(dead_target: str) -> None:
    with RouterClient(dead_target, **{**BREAKER, "timeout": 2}) as client:
        errors = [client.route(PROMPT).error for _ in range(FAILURES + 2)]
    assert errors == ["UNAVAILABLE"] * FAILURES + [CIRCUIT_OPEN] * 2


def test_after_the_cooldown_one_probe_reaches_the_router_and_its_answer_closes_it(
    fake: FakeRouter,
) -> None:
    with RouterClient(target(fake), **BREAKER) as client:
        open_breaker(client, fake)
        fake.mode = "answer"
        assert client.route(PROMPT).error == CIRCUIT_OPEN
        wait_out_cooldown()
        probe = client.route(PROMPT)
        assert fake.calls == FAILURES + 1
        after = [client.route(PROMPT) for _ in range(3)]
    assert (probe.model, probe.fallback, probe.error) == (ROUTED, False, None)
    assert [(r.model, r.fallback) for r in after] == [(ROUTED, False)] * 3
    assert fake.calls == FAILURES + 4


def test_a_failed_probe_opens_it_for_another_cooldown(fake: FakeRouter) -> None:
    with RouterClient(target(fake), **BREAKER) as client:
        open_breaker(client, fake)
        wait_out_cooldown()
        probe = client.route(PROMPT)
        again = client.route(PROMPT)
        assert fake.calls == FAILURES + 1
        wait_out_cooldown()
        fake.mode = "answer"
        second_probe = client.route(PROMPT)
    assert (probe.error, again.error, second_probe.model) == (TIMED_OUT, CIRCUIT_OPEN, ROUTED)
    assert fake.calls == FAILURES + 2


def test_invalid_arguments_neither_open_it_nor_reset_the_count(fake: FakeRouter) -> None:
    with RouterClient(target(fake), **BREAKER) as client:
        fake.mode = "hang"
        assert [client.route(PROMPT).error for _ in range(FAILURES - 1)] == [TIMED_OUT] * (
            FAILURES - 1
        )
        fake.mode = "invalid"
        for _ in range(2 * FAILURES):
            with pytest.raises(grpc.RpcError) as caught:
                client.route(PROMPT)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fake.mode = "hang"
        errors = [client.route(PROMPT).error for _ in range(2)]
    assert errors == [TIMED_OUT, CIRCUIT_OPEN]
    assert fake.calls == 3 * FAILURES


def test_any_answer_even_an_empty_one_resets_the_count(fake: FakeRouter) -> None:
    with RouterClient(target(fake), **BREAKER) as client:
        fake.mode = "hang"
        errors = [client.route(PROMPT).error for _ in range(FAILURES - 1)]
        fake.mode = "empty"
        errors.append(client.route(PROMPT).error)
        fake.mode = "hang"
        errors += [client.route(PROMPT).error for _ in range(FAILURES + 1)]
    assert errors == [TIMED_OUT] * (FAILURES - 1) + [EMPTY_ANSWER] + [TIMED_OUT] * FAILURES + [
        CIRCUIT_OPEN
    ]
    assert fake.calls == 2 * FAILURES


def test_concurrent_callers_half_open_send_exactly_one_probe(fake: FakeRouter) -> None:
    callers = 8
    barrier = threading.Barrier(callers)

    def call(client: RouterClient) -> str | None:
        barrier.wait()
        return client.route(PROMPT).error

    with RouterClient(target(fake), **BREAKER) as client, ThreadPoolExecutor(callers) as pool:
        open_breaker(client, fake)
        wait_out_cooldown()
        errors = list(pool.map(call, [client] * callers))
    assert sorted(errors) == [CIRCUIT_OPEN] * (callers - 1) + [TIMED_OUT]
    assert fake.calls == FAILURES + 1


def test_the_async_client_opens_probes_once_and_closes_like_the_sync_one(
    fake: FakeRouter,
) -> None:
    async def calls() -> tuple[float, list[str | None], list[str | None], list[str]]:
        async with AsyncRouterClient(target(fake), **BREAKER) as client:
            await open_async_breaker(client, fake)
            start = time.monotonic()
            opened = [(await client.route(PROMPT)).error for _ in range(10)]
            elapsed = time.monotonic() - start
            assert fake.calls == FAILURES
            await asyncio.sleep(COOLDOWN * 1.1)
            half_open = await asyncio.gather(*(client.route(PROMPT) for _ in range(8)))
            assert fake.calls == FAILURES + 1
            await asyncio.sleep(COOLDOWN * 1.1)
            fake.mode = "answer"
            closed = [(await client.route(PROMPT)).model for _ in range(2)]
        return elapsed, opened, [r.error for r in half_open], closed

    elapsed, opened, half_open, closed = asyncio.run(calls())
    assert elapsed < DEADLINE and opened == [CIRCUIT_OPEN] * 10
    assert sorted(half_open) == [CIRCUIT_OPEN] * 7 + [TIMED_OUT]
    assert closed == [ROUTED] * 2 and fake.calls == FAILURES + 3


def test_a_probe_that_neither_succeeds_nor_fails_lets_the_next_call_probe(
    fake: FakeRouter,
) -> None:
    """A cancelled probe, then one the router rejects as invalid: neither leaves it half-open."""

    async def calls() -> list[str | None]:
        async with AsyncRouterClient(target(fake), **BREAKER) as client:
            await open_async_breaker(client, fake)
            errors = [(await client.route(PROMPT)).error]
            await asyncio.sleep(COOLDOWN * 1.1)
            cancelled = asyncio.create_task(client.route(PROMPT))
            while fake.calls == FAILURES:
                await asyncio.sleep(0.01)
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            fake.mode = "invalid"
            with pytest.raises(grpc.RpcError):
                await client.route(PROMPT)
            fake.mode = "answer"
            errors += [(await client.route(PROMPT)).error for _ in range(2)]
        return errors

    assert asyncio.run(calls()) == [CIRCUIT_OPEN, None, None]
    assert fake.calls == FAILURES + 4


def test_a_probe_that_never_reports_is_given_up_after_a_cooldown() -> None:
    breaker = CircuitBreaker(1, COOLDOWN, "a test dependency")
    breaker.record_failure(TIMED_OUT)
    assert not breaker.allow()
    wait_out_cooldown()
    assert [breaker.allow(), breaker.allow()] == [True, False]
    wait_out_cooldown()
    assert breaker.allow()


def test_opening_and_closing_are_logged_once_each(
    fake: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router_ml.breaker")
    with RouterClient(target(fake), **BREAKER) as client:
        open_breaker(client, fake)
        for _ in range(5):
            client.route(PROMPT)
        wait_out_cooldown()
        assert client.route(PROMPT).error == TIMED_OUT
        wait_out_cooldown()
        fake.mode = "answer"
        assert [client.route(PROMPT).model for _ in range(3)] == [ROUTED] * 3
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "router_ml.breaker"]
    assert [level for level, _ in logged] == [logging.WARNING, logging.INFO]
    assert f"{FAILURES} failed calls in a row (last: {TIMED_OUT}); circuit open" in logged[0][1]
    assert "circuit closed" in logged[1][1]


@pytest.mark.parametrize("failures", [0, None])
def test_a_disabled_breaker_calls_the_router_every_time(
    fake: FakeRouter, failures: int | None
) -> None:
    with RouterClient(target(fake), **{**BREAKER, "breaker_failures": failures}) as client:
        fake.mode = "hang"
        errors = [client.route(PROMPT).error for _ in range(FAILURES + 2)]
    assert errors == [TIMED_OUT] * (FAILURES + 2) and fake.calls == FAILURES + 2


def test_a_fail_closed_client_has_no_breaker(fake: FakeRouter) -> None:
    with RouterClient(target(fake), **{**BREAKER, "fallback_model": None}) as client:
        fake.mode = "hang"
        for _ in range(FAILURES + 2):
            with pytest.raises(grpc.RpcError) as caught:
                client.route(PROMPT)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert fake.calls == FAILURES + 2


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("breaker_failures", -1),
        ("breaker_failures", 2.5),
        ("breaker_failures", True),
        ("breaker_cooldown", 0),
        ("breaker_cooldown", -1.0),
        ("breaker_cooldown", math.nan),
        ("breaker_cooldown", math.inf),
        ("breaker_cooldown", None),
    ],
)
@pytest.mark.parametrize("client_class", [RouterClient, AsyncRouterClient])
def test_bad_breaker_keywords_are_refused_by_name(
    client_class: type[RouterClient | AsyncRouterClient], keyword: str, value: object
) -> None:
    with pytest.raises(ValueError, match=f"^{keyword} must be .*, got {value!r}$"):
        client_class(f"{HOST}:1", fallback_model="safe", **{keyword: value})
