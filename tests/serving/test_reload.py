"""Hot reload: a new version is swapped in under traffic with no failed request; a bad one is rejected."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from serving_helpers import (
    HOST,
    clone_version,
    copy_registry,
    metric,
    running,
    server_config,
    wait_for,
)

from router_ml.artifact.registry import current_version, set_current
from router_ml.client import route_request
from router_ml.serving.server import RoutingServer
from router_ml.v1 import router_pb2, router_pb2_grpc

CLIENTS = 3
MAX_CALLS_PER_CLIENT = 400
MAX_TRAFFIC_SECONDS = 90.0


@pytest.fixture
def registry(trained_registry: Path, tmp_path: Path) -> Path:
    return copy_registry(trained_registry, tmp_path / "registry")


@pytest.fixture
def reloading(registry: Path) -> Iterator[tuple[RoutingServer, router_pb2_grpc.RouterStub]]:
    with (
        running(server_config(registry, poll_interval=0.2)) as server,
        grpc.insecure_channel(f"{HOST}:{server.port}") as channel,
    ):
        yield server, router_pb2_grpc.RouterStub(channel)


def traffic(
    stub: router_pb2_grpc.RouterStub, stop: threading.Event, seen: list[str], errors: list[str]
) -> None:
    deadline = time.monotonic() + MAX_TRAFFIC_SECONDS
    for i in range(MAX_CALLS_PER_CLIENT):
        if stop.is_set() or time.monotonic() > deadline:
            return
        try:
            seen.append(
                stub.Route(route_request(f"What is {i} squared?"), timeout=30).router_version
            )
        except grpc.RpcError as exc:
            errors.append(exc.code().name)


def test_hot_reload_under_traffic(
    reloading: tuple[RoutingServer, router_pb2_grpc.RouterStub], registry: Path
) -> None:
    server, stub = reloading
    old = server.router.version
    stop, errors = threading.Event(), []
    seen: list[list[str]] = [[] for _ in range(CLIENTS)]
    threads = [
        threading.Thread(target=traffic, args=(stub, stop, seen[i], errors)) for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(seen), 30, "traffic on the old version")
        new = clone_version(registry, "99990101T000000Z-newver").name
        set_current(registry, new)
        wait_for(lambda: all(new in s for s in seen), 60, "every client to see the new version")
        counts = [len(s) for s in seen]
        wait_for(
            lambda: all(len(s) >= c + 5 for s, c in zip(seen, counts, strict=True)),
            30,
            "more traffic on the new version",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert errors == []
    for versions in seen:
        first_new = versions.index(new)
        assert set(versions[:first_new]) == {old} and set(versions[first_new:]) == {new}
    assert metric(server, "router_ml_reloads_total", result="success") == 1
    assert metric(server, "router_ml_active_version", version=new) == 1
    assert metric(server, "router_ml_active_version", version=old) == 0


def _corrupt_clone(registry: Path) -> Path:
    """A clone of the current version with one file altered, made current."""
    bad = clone_version(registry, "99990101T000000Z-corrupt")
    model_file = bad / "pass_model.joblib"
    model_file.write_bytes(model_file.read_bytes()[:-16] + b"\x00" * 16)
    set_current(registry, bad.name)
    return bad


def test_corrupted_version_is_rejected(
    reloading: tuple[RoutingServer, router_pb2_grpc.RouterStub], registry: Path
) -> None:
    server, stub = reloading
    old = server.router.version
    _corrupt_clone(registry)

    def failures() -> float:
        return metric(server, "router_ml_reloads_total", result="failure")

    wait_for(lambda: failures() == 1, 30, "the corrupted version to be rejected")
    assert stub.Route(route_request("Still answering?"), timeout=30).router_version == old
    time.sleep(5 * server.config.poll_interval)
    assert failures() == 1, "a rejected version is reported once, not at every poll"
    server.reload()
    wait_for(lambda: failures() == 2, 30, "a forced reload (SIGHUP) to retry it")
    assert server.router.version == old
    good = clone_version(registry, "99990101T000000Z-fixed", source=old).name
    set_current(registry, good)
    wait_for(lambda: server.router.version == good, 60, "the next good version")
    info = stub.GetModelInfo(router_pb2.GetModelInfoRequest(), timeout=10)
    assert info.router_version == good
    assert metric(server, "router_ml_reloads_total", result="success") == 1


def test_a_start_with_a_broken_current_serves_the_newest_good_version(registry: Path) -> None:
    """A restart (a rescheduled pod) must not crash-loop on what a running server would reject."""
    old = current_version(registry)
    _corrupt_clone(registry)
    with running(server_config(registry, poll_interval=0.2)) as server:
        assert server.router.version == old
        assert metric(server, "router_ml_current_rejected") == 1
        time.sleep(5 * server.config.poll_interval)
        assert metric(server, "router_ml_reloads_total", result="failure") == 1
        good = clone_version(registry, "99990101T000000Z-fixed", source=old).name
        set_current(registry, good)
        wait_for(lambda: server.router.version == good, 60, "current, once it is fixed")
        assert metric(server, "router_ml_current_rejected") == 0
