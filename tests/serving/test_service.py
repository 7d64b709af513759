"""Route, RouteBatch and GetModelInfo over gRPC give the same decisions as Router in-process."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from pipeline_helpers import write_jsonl

from router_ml import RouteDecision, Router
from router_ml.client import route_request
from router_ml.data.evallog import read_log
from router_ml.serving.server import HEALTH_SERVICE, ROUTER_SERVICE, RoutingServer
from router_ml.v1 import router_pb2, router_pb2_grpc

PROMPTS = [
    "What is 17 * 23? Answer with a number.",
    "Write a Python function that reverses a linked list.",
    "Summarise the causes of the French Revolution in two sentences.",
]


def assert_same(response: router_pb2.RouteResponse, decision: RouteDecision) -> None:
    assert response.model == decision.model
    assert response.confidence == pytest.approx(decision.confidence, abs=1e-6)
    assert router_pb2.Reason.Name(response.reason) == f"REASON_{decision.reason.upper()}"
    assert response.restricted_by_allowed_models == decision.restricted_by_allowed_models
    assert response.min_confidence == pytest.approx(decision.min_confidence)
    assert response.router_version == decision.router_version
    assert response.estimated_cost_usd == pytest.approx(decision.ranked[0].estimated_cost_usd)
    assert [a.model for a in response.alternatives] == [e.model for e in decision.ranked[1:]]
    for got, want in zip(response.alternatives, decision.ranked[1:], strict=True):
        assert got.pass_probability == pytest.approx(want.pass_probability, abs=1e-6)
        assert got.estimated_cost_usd == pytest.approx(want.estimated_cost_usd)
        assert got.HasField("expected_score")
        assert got.expected_score == pytest.approx(want.expected_score, abs=1e-6)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_route_matches_router(
    stub: router_pb2_grpc.RouterStub, router: Router, prompt: str
) -> None:
    response = stub.Route(route_request(prompt, request_id="req-1"), timeout=30)
    assert_same(response, router.route(prompt))
    assert response.request_id == "req-1"


def test_route_without_deadline(stub: router_pb2_grpc.RouterStub, router: Router) -> None:
    response = stub.Route(route_request(PROMPTS[0]))
    assert response.model == router.route(PROMPTS[0]).model


def test_messages_embed_the_last_user_turn_then_the_system_turns(
    stub: router_pb2_grpc.RouterStub, router: Router
) -> None:
    messages = [
        {"role": "system", "content": "You are a terse maths tutor."},
        {"role": "user", "content": "Tell me a joke."},
        {"role": "assistant", "content": "Why did the chicken cross the road?"},
        {"role": "user", "content": PROMPTS[0]},
    ]
    response = stub.Route(route_request(messages=messages), timeout=30)
    embedded = f"{PROMPTS[0]}\n\n{messages[0]['content']}"
    whole = "\n\n".join(m["content"] for m in messages)
    knob, allowed = router.check_request([embedded], None, None)
    (expected,) = router.decide(
        router.embed([embedded]), router.estimate_costs([whole]), knob, allowed
    )
    assert_same(response, expected)


def test_a_long_system_prompt_does_not_hide_the_question(
    stub: router_pb2_grpc.RouterStub, router: Router
) -> None:
    """A system prompt longer than the encoder's window: each question still gets its own
    pass probabilities (with the system prompt first, both embedded as the same 256 tokens)."""
    system = "Follow the house style guide: be polite, concise and accurate. " * 60  # ~700 tokens
    answers = [
        stub.Route(
            route_request(
                messages=[{"role": "system", "content": system}, {"role": "user", "content": p}]
            ),
            timeout=30,
        )
        for p in PROMPTS[:2]
    ]
    first, second = ({e.model: e.pass_probability for e in a.alternatives} for a in answers)
    assert max(abs(first[m] - second[m]) for m in first) > 0.01


def test_a_conversation_routes_as_its_training_texts_decide(
    tmp_path: Path, stub: router_pb2_grpc.RouterStub, router: Router
) -> None:
    """No train/serve skew: the server embeds and costs a conversation as training reads it."""
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Answer in one word."}]},
        {"role": "user", "content": PROMPTS[2]},
        {"role": "assistant", "content": None},
        {"role": "user", "content": PROMPTS[1]},
    ]
    row = {"prompt_id": "c1", "prompt": messages, "model": router.models[0], "score": 1}
    (logged,) = read_log(write_jsonl(tmp_path / "log.jsonl", [row]))
    response = stub.Route(route_request(messages=messages), timeout=30)
    knob, allowed = router.check_request([logged.prompt], None, None)
    (expected,) = router.decide(
        router.embed([logged.prompt]), router.estimate_costs([logged.cost_text]), knob, allowed
    )
    assert_same(response, expected)


def test_allowed_models_restrict_the_choice(
    stub: router_pb2_grpc.RouterStub, router: Router
) -> None:
    unrestricted = router.route(PROMPTS[1])
    allowed = [m for m in router.models if m != unrestricted.model][:3]
    response = stub.Route(route_request(PROMPTS[1], allowed_models=allowed), timeout=30)
    assert response.model in allowed
    assert {a.model for a in response.alternatives} | {response.model} == set(allowed)
    assert response.restricted_by_allowed_models
    assert_same(response, router.route(PROMPTS[1], allowed_models=allowed))


@pytest.mark.parametrize("knob", [0.0, 0.5, 1.0])
def test_min_confidence_is_applied(
    stub: router_pb2_grpc.RouterStub, router: Router, knob: float
) -> None:
    response = stub.Route(route_request(PROMPTS[2], min_confidence=knob), timeout=30)
    assert response.min_confidence == knob
    assert_same(response, router.route(PROMPTS[2], min_confidence=knob))


def test_absent_min_confidence_uses_the_default(
    stub: router_pb2_grpc.RouterStub, router: Router
) -> None:
    response = stub.Route(route_request(PROMPTS[2]), timeout=30)
    assert response.min_confidence == pytest.approx(router.default_min_confidence)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_num_alternatives(stub: router_pb2_grpc.RouterStub, router: Router, count: int) -> None:
    response = stub.Route(route_request(PROMPTS[0], num_alternatives=count), timeout=30)
    expected = router.route(PROMPTS[0]).ranked[1 : 1 + count]
    assert [a.model for a in response.alternatives] == [e.model for e in expected]


def test_route_batch_matches_router(stub: router_pb2_grpc.RouterStub, router: Router) -> None:
    allowed = router.models[:2]
    requests = [
        route_request(PROMPTS[0], request_id="a"),
        route_request(PROMPTS[1], allowed_models=allowed, request_id="b"),
        route_request(PROMPTS[2], min_confidence=0.0, request_id="c"),
        route_request(PROMPTS[0], request_id="d"),
    ]
    batch = stub.RouteBatch(router_pb2.RouteBatchRequest(requests=requests), timeout=60)
    assert [r.request_id for r in batch.responses] == ["a", "b", "c", "d"]
    assert_same(batch.responses[0], router.route(PROMPTS[0]))
    assert_same(batch.responses[1], router.route(PROMPTS[1], allowed_models=allowed))
    assert_same(batch.responses[2], router.route(PROMPTS[2], min_confidence=0.0))
    assert_same(batch.responses[3], router.route(PROMPTS[0]))


def test_model_info(
    stub: router_pb2_grpc.RouterStub, router: Router, server: RoutingServer
) -> None:
    info = stub.GetModelInfo(router_pb2.GetModelInfoRequest(), timeout=10)
    assert info.router_version == router.version
    encoder = router.manifest["encoder"]
    assert (info.encoder.name, info.encoder.source, info.encoder.weights_sha256) == (
        encoder["name"],
        encoder["source"],
        encoder["weights_sha256"],
    )
    assert info.encoder.max_seq_length == encoder["max_seq_length"]
    assert [m.name for m in info.models] == router.models
    for model in info.models:
        price = router.catalog[model.name]
        assert (model.input_per_mtok, model.output_per_mtok) == (
            price.input_per_mtok,
            price.output_per_mtok,
        )
        assert model.HasField("context_window") == (price.context_window is not None)
    assert info.threshold == router.threshold
    assert info.default_min_confidence == router.default_min_confidence
    heldout = router.manifest["metrics"]["heldout"]
    assert info.heldout_metrics["n_prompts"] == heldout["n_prompts"]
    assert info.heldout_metrics["best_single"] == heldout["best_single"]
    assert info.loaded_at.ToNanoseconds() / 1e9 == pytest.approx(server.router.loaded_at, abs=1e-3)


def test_health_is_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", ROUTER_SERVICE):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    assert {ROUTER_SERVICE, HEALTH_SERVICE} <= set(database.get_services())
    described = database.FindFileContainingSymbol(ROUTER_SERVICE)
    assert {m.name for m in described.service[0].method} == {"Route", "RouteBatch", "GetModelInfo"}
