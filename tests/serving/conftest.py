"""Serving fixtures: one real routing server on 127.0.0.1 port 0, over the session's trained registry,
and a loopback port nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from serving_helpers import HOST, running, server_config

from router_ml.serving import RoutingServer
from router_ml.v1 import router_pb2_grpc


@pytest.fixture(scope="session")
def server(trained_registry: Path) -> Iterator[RoutingServer]:
    """One in-process server on the trained registry, shared by tests that do not change it."""
    with running(server_config(trained_registry)) as started:
        yield started


@pytest.fixture(scope="session")
def channel(server: RoutingServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"{HOST}:{server.port}") as opened:
        yield opened


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> router_pb2_grpc.RouterStub:
    return router_pb2_grpc.RouterStub(channel)


@pytest.fixture
def dead_target() -> Iterator[str]:
    """A loopback port nobody listens on (bound, never listened, so nothing else takes it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        yield f"{HOST}:{sock.getsockname()[1]}"
