"""The Prometheus endpoint: requests by code and model, latencies, active version; no prompt text."""

from __future__ import annotations

import logging
import urllib.request

import grpc
import pytest
from serving_helpers import HOST

from router_ml.client import route_request
from router_ml.serving.server import RoutingServer
from router_ml.v1 import router_pb2, router_pb2_grpc

SECRET_PROMPT = "my-secret-prompt-text about zebra migrations"


def scrape(server: RoutingServer) -> str:
    with urllib.request.urlopen(f"http://{HOST}:{server.metrics_port}/metrics", timeout=10) as page:
        return page.read().decode()


def test_metrics_endpoint(server: RoutingServer, stub: router_pb2_grpc.RouterStub) -> None:
    chosen = stub.Route(route_request(SECRET_PROMPT), timeout=30).model
    stub.RouteBatch(
        router_pb2.RouteBatchRequest(requests=[route_request(SECRET_PROMPT)]), timeout=30
    )
    stub.GetModelInfo(router_pb2.GetModelInfoRequest(), timeout=10)
    text = scrape(server)
    for line in [
        'router_ml_requests_total{code="OK",method="Route"}',
        'router_ml_requests_total{code="OK",method="RouteBatch"}',
        'router_ml_requests_total{code="OK",method="GetModelInfo"}',
        f'router_ml_routed_total{{model="{chosen}"}}',
        'router_ml_request_duration_seconds_bucket{le="0.1",method="Route"}',
        "router_ml_embedding_duration_seconds_count",
        f'router_ml_active_version{{version="{server.router.version}"}} 1.0',
        "router_ml_active_version_loaded_timestamp_seconds",
        "router_ml_in_flight_requests ",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "python_info{",
        'python_gc_collections_total{generation="0"}',
    ]:
        assert line in text, line
    assert "zebra" not in text and SECRET_PROMPT not in text


def test_no_prompt_text_in_logs(
    stub: router_pb2_grpc.RouterStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="router_ml")
    stub.Route(route_request(SECRET_PROMPT), timeout=30)
    with pytest.raises(grpc.RpcError):
        stub.Route(route_request(SECRET_PROMPT, allowed_models=["nope"]), timeout=30)
    assert "allowed_models" in caplog.text
    assert "zebra" not in caplog.text
