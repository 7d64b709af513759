"""The decision cache: hits skip the encoder, it stays bounded, and a reload empties it."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
from serving_helpers import HOST, clone_version, copy_registry, metric, running, server_config

from router_ml.artifact.registry import set_current
from router_ml.client import route_request
from router_ml.serving.decision_cache import DecisionCache, decision_key
from router_ml.v1 import router_pb2_grpc

ALL = np.ones(3, dtype=bool)


def test_cache_is_bounded_and_emptied_by_a_new_version(router):
    cache = DecisionCache(2, lambda: None, lambda: None)
    decision = router.route("What is 2 + 2?")
    keys = [decision_key(f"prompt {i}", f"prompt {i}", 0.5, ALL) for i in range(3)]
    assert cache.get(router.version, keys[0]) is None
    for key in keys:
        cache.put(decision, key)
    assert len(cache) == 2
    assert cache.get(router.version, keys[0]) is None
    assert cache.get(router.version, keys[2]) is decision
    assert cache.get("another-version", keys[2]) is None
    assert len(cache) == 0


def test_knobs_are_part_of_the_key():
    assert decision_key("a", "a", 0.5, ALL) != decision_key("a", "a", 0.6, ALL)
    assert decision_key("a", "a", 0.5, ALL) != decision_key("a", "a", 0.5, ~ALL)
    assert decision_key("a", "b", 0.5, ALL) != decision_key("a", "a", 0.5, ALL)


def test_repeat_is_a_hit_and_a_reload_invalidates(trained_registry: Path, tmp_path: Path):
    registry = copy_registry(trained_registry, tmp_path / "registry")
    request = route_request("What is the capital of France?")
    with (
        running(server_config(registry, poll_interval=0.2)) as server,
        grpc.insecure_channel(f"{HOST}:{server.port}") as channel,
    ):
        stub = router_pb2_grpc.RouterStub(channel)
        first = stub.Route(request, timeout=30)
        assert stub.Route(request, timeout=30) == first
        hits = ("router_ml_decision_cache_total", {"result": "hit"})
        assert metric(server, hits[0], **hits[1]) == 1
        clone_version(registry, "v-next")
        set_current(registry, "v-next")
        server.reload()
        while server.router.version != "v-next":
            server.holder.settled.wait(0.05)
        after = stub.Route(request, timeout=30)
        assert after.router_version == "v-next"
        assert metric(server, hits[0], **hits[1]) == 1
        assert metric(server, "router_ml_decision_cache_total", result="miss") == 2
