"""Every bad input gets the right status code and a message saying what is wrong; none hurts the server."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from serving_helpers import HOST, READY_TIMEOUT, SMALL_LIMITS, metric, running, server_config

from router_ml import Router
from router_ml.client import route_request
from router_ml.serving.server import RoutingServer
from router_ml.v1 import router_pb2, router_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def call_error(call, request, timeout: float = 30) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=timeout)
    return caught.value


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (route_request(""), "prompt is empty"),
        (route_request(" \n\t "), "prompt is empty"),
        (route_request(messages=[]), "prompt is empty"),
        (route_request(messages=[{"role": "system", "content": "Be nice."}]), "no user turn"),
        (
            route_request(
                messages=[user("hi"), {"role": "assistant", "content": "Hello!"}, user("  ")]
            ),
            "no user turn",
        ),
        (
            router_pb2.RouteRequest(
                prompt="hi", messages=[router_pb2.Message(role="user", content="x")]
            ),
            "not both",
        ),
        (route_request("x" * (SMALL_LIMITS["max_prompt_bytes"] + 1)), "at most 4096"),
        (route_request("é" * (SMALL_LIMITS["max_prompt_bytes"] // 2 + 1)), "bytes"),
        (route_request(messages=[user("y" * 3000), user("z" * 3000)]), "at most 4096"),
        (route_request("hello", min_confidence=-0.1), "min_confidence"),
        (route_request("hello", min_confidence=1.5), "min_confidence"),
        (route_request("hello", min_confidence=math.nan), "min_confidence"),
        (route_request("hello", min_confidence=math.inf), "min_confidence"),
    ],
)
def test_invalid_route_requests(
    stub: router_pb2_grpc.RouterStub, request_: router_pb2.RouteRequest, message: str
) -> None:
    error = call_error(stub.Route, request_)
    assert error.code() == INVALID
    assert message in error.details()


def test_unknown_allowed_models_are_ignored_and_listed(
    stub: router_pb2_grpc.RouterStub, router: Router, server: RoutingServer
) -> None:
    """A retrain may drop a model that gateways still allow: route among the known ones."""
    before = metric(server, "router_ml_unknown_allowed_models_total")
    request = route_request("hello", allowed_models=["gpt-9", router.models[0], "nope"])
    answer = stub.Route(request, timeout=30)
    assert answer.model == router.models[0]
    assert list(answer.unknown_allowed_models) == ["gpt-9", "nope"]
    assert metric(server, "router_ml_unknown_allowed_models_total") == before + 1
    assert not stub.Route(route_request("hello"), timeout=30).unknown_allowed_models
    error = call_error(stub.Route, route_request("hello", allowed_models=["gpt-9", "nope"]))
    assert error.code() == INVALID
    assert "names no model this router knows: gpt-9, nope" in error.details()


def test_batch_errors_name_the_item(stub: router_pb2_grpc.RouterStub) -> None:
    requests = [route_request("fine"), route_request("also fine", allowed_models=["nope"])]
    error = call_error(stub.RouteBatch, router_pb2.RouteBatchRequest(requests=requests))
    assert error.code() == INVALID
    assert error.details().startswith("requests[1]: ") and "nope" in error.details()
    error = call_error(
        stub.RouteBatch,
        router_pb2.RouteBatchRequest(requests=[route_request("a"), route_request("")]),
    )
    assert error.code() == INVALID and error.details().startswith("requests[1]: prompt is empty")


@pytest.mark.parametrize(("count", "message"), [(0, "requests is empty"), (33, "at most 32")])
def test_batch_size_limits(stub: router_pb2_grpc.RouterStub, count: int, message: str) -> None:
    batch = router_pb2.RouteBatchRequest(requests=[route_request("hi")] * count)
    error = call_error(stub.RouteBatch, batch)
    assert error.code() == INVALID and message in error.details()


def test_over_the_grpc_size_limit_is_resource_exhausted(
    stub: router_pb2_grpc.RouterStub, channel: grpc.Channel
) -> None:
    huge = route_request("x" * (SMALL_LIMITS["max_message_bytes"] + 1))
    assert call_error(stub.Route, huge).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    batch = router_pb2.RouteBatchRequest(requests=[route_request("y" * 3000)] * 30)
    assert call_error(stub.RouteBatch, batch).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Route(route_request("still here?"), timeout=30).model
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_errors_are_counted_by_code(
    stub: router_pb2_grpc.RouterStub, server: RoutingServer
) -> None:
    before = metric(server, "router_ml_requests_total", method="Route", code="INVALID_ARGUMENT")
    call_error(stub.Route, route_request(""))
    after = metric(server, "router_ml_requests_total", method="Route", code="INVALID_ARGUMENT")
    assert after == before + 1


def test_not_ready_is_unavailable(trained_registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    warm_up = Router.warm_up

    def held_warm_up(self: Router) -> None:
        assert release.wait(READY_TIMEOUT)
        warm_up(self)

    monkeypatch.setattr(Router, "warm_up", held_warm_up)
    with (
        running(server_config(trained_registry), wait=False) as server,
        grpc.insecure_channel(f"{HOST}:{server.port}") as channel,
    ):
        stub, health = router_pb2_grpc.RouterStub(channel), health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest()
        assert health.Check(check, timeout=5).status == health_pb2.HealthCheckResponse.NOT_SERVING
        for call, request in [
            (stub.Route, route_request("hello")),
            (stub.RouteBatch, router_pb2.RouteBatchRequest(requests=[route_request("hello")])),
            (stub.GetModelInfo, router_pb2.GetModelInfoRequest()),
        ]:
            error = call_error(call, request, timeout=5)
            assert error.code() == grpc.StatusCode.UNAVAILABLE and "loading" in error.details()
        release.set()
        assert server.wait_until_ready(READY_TIMEOUT)
        assert health.Check(check, timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        assert stub.Route(route_request("hello"), timeout=30).model
