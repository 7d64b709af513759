"""RouterClient: real answers from a running server; fail open (or closed) when the router is down."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from serving_helpers import HOST, metric, running, server_config

from router_ml import Router
from router_ml.client import (
    FALLBACK_REASON,
    AsyncRouterClient,
    RouterClient,
    message_text,
    route_request,
    to_result,
)
from router_ml.serving.server import RoutingServer
from router_ml.v1 import router_pb2

PROMPT = "Name three prime numbers greater than 100."
#: What a gateway importing the client must not load: a router's stack, and the server.
ROUTER_STACK = ("numpy", "joblib", "sklearn", "onnxruntime", "torch", "router_ml.serving")


def test_importing_the_client_loads_no_router_stack() -> None:
    check = (
        f"import sys, router_ml.client; print([m for m in {ROUTER_STACK!r} if m in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_client_route_matches_router(server: RoutingServer, router: Router) -> None:
    with RouterClient(f"{HOST}:{server.port}", timeout=30, fallback_model="x") as client:
        result = client.route(PROMPT, request_id="r1", num_alternatives=2)
        batch = client.route_batch([route_request("a cat"), route_request("a dog")])
        info = client.model_info()
    expected = router.route(PROMPT)
    assert (result.model, result.reason, result.router_version) == (
        expected.model,
        expected.reason,
        expected.router_version,
    )
    assert result.confidence == pytest.approx(expected.confidence, abs=1e-6)
    assert [a.model for a in result.alternatives] == [e.model for e in expected.ranked[1:3]]
    assert [a.expected_score for a in result.alternatives] == pytest.approx(
        [e.expected_score for e in expected.ranked[1:3]], abs=1e-6
    )
    assert result.request_id == "r1" and not result.fallback and result.error is None
    assert [r.model for r in batch] == [router.route(p).model for p in ("a cat", "a dog")]
    assert info.router_version == router.version


def test_fail_open_when_the_server_is_down(dead_target: str) -> None:
    with RouterClient(dead_target, timeout=2, fallback_model="safe-model") as client:
        result = client.route(PROMPT, request_id="r2")
        restricted = client.route(PROMPT, allowed_models=["cheap", "dear"])
    assert (result.model, result.fallback, result.reason, result.error) == (
        "safe-model",
        True,
        FALLBACK_REASON,
        "UNAVAILABLE",
    )
    assert result.confidence is None and result.alternatives == () and result.request_id == "r2"
    assert restricted.model == "cheap", "a fallback never leaves allowed_models"


def test_fail_closed_without_a_fallback_model(dead_target: str) -> None:
    with RouterClient(dead_target, timeout=2) as client, pytest.raises(grpc.RpcError) as caught:
        client.route(PROMPT)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_fail_open_on_deadline(server: RoutingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    embed = server.router.embed

    def held_embed(prompts):
        release.wait(30)
        return embed(prompts)

    monkeypatch.setattr(server.router, "embed", held_embed)
    try:
        with RouterClient(f"{HOST}:{server.port}", timeout=0.2, fallback_model="safe") as client:
            result = client.route(
                "A prompt no other test sent, so the decision cache cannot answer it."
            )
    finally:
        release.set()
    assert (result.model, result.fallback, result.error) == ("safe", True, "DEADLINE_EXCEEDED")


def test_invalid_requests_raise_even_with_a_fallback(server: RoutingServer) -> None:
    client = RouterClient(f"{HOST}:{server.port}", timeout=30, fallback_model="safe")
    with client, pytest.raises(grpc.RpcError) as caught:
        client.route("   ")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metric(server, "router_ml_requests_total", method="Route", code="INVALID_ARGUMENT") >= 1


def test_an_estimate_without_expected_score_reads_as_none() -> None:
    older = router_pb2.ModelEstimate(model="m", pass_probability=0.5, estimated_cost_usd=0.1)
    newer = router_pb2.ModelEstimate(model="m", expected_score=0.0)
    response = router_pb2.RouteResponse(model="m", alternatives=[older, newer])
    assert [a.expected_score for a in to_result(response).alternatives] == [None, 0.0]


def test_fail_open_on_a_server_error(
    server: RoutingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_embed(prompts):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(server.router, "embed", broken_embed)
    with RouterClient(f"{HOST}:{server.port}", timeout=30, fallback_model="safe") as client:
        result = client.route("A prompt no other test sent: the encoder fails on it.")
    assert (result.model, result.fallback, result.error) == ("safe", True, "INTERNAL")


def test_message_contents_the_client_accepts() -> None:
    parts = [{"type": "text", "text": "describe"}, {"type": "image_url"}, "this picture"]
    assert message_text(parts) == "describe\nthis picture"
    assert message_text(None) == ""
    assert message_text("lone \ud800 surrogate") == "lone ? surrogate"
    with pytest.raises(TypeError, match="message content must be text"):
        message_text(42)
    request = route_request(
        messages=[
            {"role": "system", "content": None},
            {"role": "user", "content": [{"type": "text", "text": "hi \udfff"}]},
        ]
    )
    assert [m.content for m in request.messages] == ["", "hi ?"]
    assert route_request("bad \ud800 text").prompt == "bad ? text"


def test_client_reconnects_soon_after_the_server_returns(trained_registry: Path) -> None:
    """gRPC's default backoff grows to 120 s: after a 20 s outage it waited ~7 s more.

    The circuit breaker is off: this is the channel's own reconnection (test_breaker covers how
    the breaker's probes resume routing)."""
    with running(server_config(trained_registry)) as first:
        port = first.port
    ready = threading.Event()
    unbroken = RouterClient(f"{HOST}:{port}", timeout=1, fallback_model="safe", breaker_failures=0)
    with unbroken as client:
        down_until = time.monotonic() + 20
        while time.monotonic() < down_until:
            assert client.route(PROMPT).error == "UNAVAILABLE"
            time.sleep(0.5)
        client._channel.subscribe(
            lambda state: state == grpc.ChannelConnectivity.READY and ready.set()
        )
        with running(server_config(trained_registry, port=port), wait=False) as back:
            listening = time.monotonic()
            assert ready.wait(10)
            assert time.monotonic() - listening < 3.5, "the channel waited too long to reconnect"
            assert back.wait_until_ready(120)
            assert not client.route(PROMPT).fallback


def test_async_client_routes_and_fails_open_like_the_sync_one(
    server: RoutingServer, router: Router, dead_target: str
) -> None:
    target = f"{HOST}:{server.port}"

    async def calls():
        async with AsyncRouterClient(target, timeout=30, fallback_model="safe") as client:
            answer = await client.route(PROMPT, request_id="a1")
            info = await client.model_info()
            with pytest.raises(grpc.RpcError) as caught:
                await client.route("   ")
        async with AsyncRouterClient(dead_target, timeout=2, fallback_model="safe") as down:
            fallback = await down.route(PROMPT, request_id="a2", allowed_models=["cheap"])
        return answer, info, caught.value.code(), fallback

    answer, info, invalid, fallback = asyncio.run(calls())
    assert (answer.model, answer.request_id, answer.fallback) == (
        router.route(PROMPT).model,
        "a1",
        False,
    )
    assert info.router_version == router.version
    assert invalid == grpc.StatusCode.INVALID_ARGUMENT
    assert (fallback.model, fallback.fallback, fallback.error, fallback.request_id) == (
        "cheap",
        True,
        "UNAVAILABLE",
        "a2",
    )
