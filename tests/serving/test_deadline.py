"""Deadlines: a request whose deadline passes while it waits for the encoder is never encoded."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from serving_helpers import metric, wait_for

from router_ml.client import route_request
from router_ml.serving.dispatch import NO_DEADLINE_BEYOND, Deadline
from router_ml.serving.server import RoutingServer
from router_ml.serving.status import DeadlinePassedError
from router_ml.v1 import router_pb2_grpc


def test_deadline_values() -> None:
    assert Deadline.after(None).remaining("now") is None
    assert Deadline.after(NO_DEADLINE_BEYOND * 2).remaining("now") is None
    assert 0 < Deadline.after(5.0).remaining("now") <= 5.0
    with pytest.raises(DeadlinePassedError, match="deadline passed before encoding"):
        Deadline.after(0.0).remaining("before encoding")


def test_expired_request_is_not_encoded(
    stub: router_pb2_grpc.RouterStub, server: RoutingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = server.router
    embed, seen, entered, release = router.embed, [], threading.Event(), threading.Event()

    def held_embed(prompts):
        seen.extend(prompts)
        entered.set()
        assert release.wait(30)
        return embed(prompts)

    monkeypatch.setattr(router, "embed", held_embed)
    before = metric(server, "router_ml_requests_total", method="Route", code="DEADLINE_EXCEEDED")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(stub.Route, route_request("first, holds the encoder"), timeout=60)
        assert entered.wait(30)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            stub.Route(route_request("second, expires in the queue"), timeout=0.3)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 5
        wait_for(
            lambda: (
                metric(server, "router_ml_requests_total", method="Route", code="DEADLINE_EXCEEDED")
                == before + 1
            ),
            10,
            "the server to count the expired request",
        )
        release.set()
        assert first.result(timeout=60).model
    assert stub.Route(route_request("third"), timeout=30).model
    assert seen == ["first, holds the encoder", "third"]
