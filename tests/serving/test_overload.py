"""Overload and draining: what the server refuses at once, and what health says meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from serving_helpers import HOST, metric, running, server_config, wait_for

from router_ml.client import RouterClient, route_request
from router_ml.serving.server import RoutingServer
from router_ml.v1 import router_pb2, router_pb2_grpc


@pytest.fixture(scope="module")
def small_server(trained_registry: Path) -> Iterator[RoutingServer]:
    """A server with 4 handler threads: 2 may route at once, 2 stay for health checks."""
    with running(server_config(trained_registry, rpc_threads=4)) as started:
        yield started


@pytest.fixture
def held_encoder(small_server: RoutingServer, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every encoder call waits until the returned event is set (set again at teardown)."""
    release, embed = threading.Event(), small_server.router.embed

    def held_embed(prompts):
        assert release.wait(60)
        return embed(prompts)

    monkeypatch.setattr(small_server.router, "embed", held_embed)
    yield release
    release.set()


def _in_flight(server: RoutingServer, count: int) -> None:
    wait_for(
        lambda: metric(server, "router_ml_in_flight_requests") == count,
        30,
        f"{count} routing calls to be in flight",
    )


def _refused_fast(call, request, timeout: float) -> grpc.RpcError:
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=timeout)
    assert time.monotonic() - started < 2, "a refusal must not wait for the encoder"
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    return caught.value


def test_routing_beyond_the_handler_slots_is_refused_and_health_still_answers(
    small_server: RoutingServer, held_encoder: threading.Event
) -> None:
    target = f"{HOST}:{small_server.port}"
    with grpc.insecure_channel(target) as channel, ThreadPoolExecutor(2) as pool:
        stub = router_pb2_grpc.RouterStub(channel)
        held = [
            pool.submit(stub.Route, route_request(f"slot test, held call {n}"), timeout=60)
            for n in range(2)
        ]
        _in_flight(small_server, 2)
        refused = _refused_fast(stub.Route, route_request("slot test, one too many"), timeout=30)
        assert "all 2 routing handlers are busy" in refused.details()
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert stub.GetModelInfo(router_pb2.GetModelInfoRequest(), timeout=2).router_version
        with RouterClient(target, timeout=30, fallback_model="safe") as client:
            fallback = client.route("slot test, through the client")
        assert (fallback.model, fallback.fallback, fallback.error) == (
            "safe",
            True,
            "RESOURCE_EXHAUSTED",
        )
        held_encoder.set()
        assert all(call.result(timeout=60).model for call in held)
    assert metric(small_server, "router_ml_requests_total", method="Route", code="OK") >= 2


def test_a_request_behind_too_much_queued_work_is_refused_at_once(
    small_server: RoutingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    router, embed = small_server.router, small_server.router.embed
    release = threading.Event()

    def slow_then_held(prompts):
        if prompts == ["backlog test, measured"]:
            time.sleep(1.0)
        else:
            assert release.wait(60)
        return embed(prompts)

    monkeypatch.setattr(router, "embed", slow_then_held)
    target = f"{HOST}:{small_server.port}"
    try:
        with grpc.insecure_channel(target) as channel, ThreadPoolExecutor(1) as pool:
            stub = router_pb2_grpc.RouterStub(channel)
            assert stub.Route(route_request("backlog test, measured"), timeout=60).model
            assert small_server.worker.seconds_per_prompt >= 0.2
            prompts = [route_request(f"backlog test, queued prompt {n}") for n in range(20)]
            batch = pool.submit(
                stub.RouteBatch, router_pb2.RouteBatchRequest(requests=prompts), timeout=60
            )
            wait_for(lambda: small_server.worker.outstanding == 20, 30, "20 queued prompts")
            refused = _refused_fast(stub.Route, route_request("backlog test, late"), timeout=1.0)
            assert "20 prompts are queued ahead" in refused.details()
            release.set()
            assert len(batch.result(timeout=60).responses) == 20
    finally:
        release.set()
    wait_for(lambda: small_server.worker.outstanding == 0, 30, "the queue to empty")
    assert metric(small_server, "router_ml_encoder_outstanding_prompts") == 0


def test_drain_delay_keeps_answering_while_health_says_not_serving(trained_registry: Path) -> None:
    with running(server_config(trained_registry)) as server:
        target = f"{HOST}:{server.port}"
        with grpc.insecure_channel(target) as channel:
            stub = router_pb2_grpc.RouterStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            stopping = threading.Thread(target=server.stop, args=(5.0, 3.0))
            started = time.monotonic()
            stopping.start()
            wait_for(
                lambda: (
                    health.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                    == health_pb2.HealthCheckResponse.NOT_SERVING
                ),
                2,
                "health to say NOT_SERVING",
            )
            assert stub.Route(route_request("still answered while draining"), timeout=2).model
            assert time.monotonic() - started < 3
            stopping.join(30)
            assert time.monotonic() - started >= 3
            with pytest.raises(grpc.RpcError) as caught:
                stub.Route(route_request("after the delay"), timeout=2)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
