"""The edge of the service: protobuf requests to validated domain inputs, domain results to protobuf."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf import struct_pb2, timestamp_pb2

from router_ml.conversation import cost_text, embedded_text
from router_ml.errors import ConversationError, InvalidRequestError
from router_ml.routing.decision import ModelEstimate, RouteDecision
from router_ml.routing.router import Router
from router_ml.v1 import REASON_PREFIX, router_pb2


@dataclass(frozen=True)
class RouteInput:
    """One request's text to embed, the text its cost is estimated from, and its options.

    ``label`` names the item in error messages (``requests[3]`` in a batch).
    """

    text: str
    cost_text: str
    min_confidence: float | None
    allowed_models: tuple[str, ...]
    num_alternatives: int | None
    request_id: str
    label: str = ""


def _texts(request: router_pb2.RouteRequest) -> tuple[str, str]:
    if request.prompt and request.messages:
        raise InvalidRequestError("set either prompt or messages, not both")
    if request.messages:
        try:
            return embedded_text(request.messages), cost_text(request.messages)
        except ConversationError as exc:
            raise InvalidRequestError(f"messages has {exc}") from None
    if not request.prompt.strip():
        raise InvalidRequestError("prompt is empty (set prompt, or messages with a user turn)")
    return request.prompt, request.prompt


def route_input(
    request: router_pb2.RouteRequest, max_prompt_bytes: int, label: str = ""
) -> RouteInput:
    """Validate a RouteRequest's shape and size; the router checks the models and the knob.

    Raises
    ------
    InvalidRequestError
        For an empty prompt, no user turn, both or neither input set, or text over the byte limit.
    """
    text, cost_text = _texts(request)
    size = len(cost_text.encode("utf-8"))
    if size > max_prompt_bytes:
        raise InvalidRequestError(
            f"prompt is {size} bytes; this server accepts at most {max_prompt_bytes} "
            "(UTF-8 bytes of the prompt, or of all message contents)"
        )
    return RouteInput(
        text=text,
        cost_text=cost_text,
        min_confidence=request.min_confidence if request.HasField("min_confidence") else None,
        allowed_models=tuple(request.allowed_models),
        num_alternatives=(
            request.num_alternatives if request.HasField("num_alternatives") else None
        ),
        request_id=request.request_id,
        label=label,
    )


def batch_inputs(
    request: router_pb2.RouteBatchRequest, max_prompt_bytes: int, max_batch: int
) -> list[RouteInput]:
    """Validate every item of a RouteBatchRequest; errors name the item's index."""
    if not request.requests:
        raise InvalidRequestError("requests is empty")
    if len(request.requests) > max_batch:
        raise InvalidRequestError(
            f"{len(request.requests)} requests in one batch; this server accepts at most {max_batch}"
        )
    inputs = []
    for i, item in enumerate(request.requests):
        label = f"requests[{i}]"
        try:
            inputs.append(route_input(item, max_prompt_bytes, label))
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"{label}: {exc}") from None
    return inputs


def _estimate(estimate: ModelEstimate) -> router_pb2.ModelEstimate:
    return router_pb2.ModelEstimate(
        model=estimate.model,
        pass_probability=estimate.pass_probability,
        estimated_cost_usd=estimate.estimated_cost_usd,
        expected_score=estimate.expected_score,
    )


def route_response(
    decision: RouteDecision, item: RouteInput, unknown_models: Sequence[str] = ()
) -> router_pb2.RouteResponse:
    """A RouteResponse for one decision, with at most ``item.num_alternatives`` alternatives;
    ``unknown_models`` are the item's allowed models the router ignored."""
    chosen, *rest = decision.ranked
    return router_pb2.RouteResponse(
        model=decision.model,
        confidence=decision.confidence,
        alternatives=[_estimate(e) for e in rest[: item.num_alternatives]],
        reason=router_pb2.Reason.Value(REASON_PREFIX + decision.reason.upper()),
        restricted_by_allowed_models=decision.restricted_by_allowed_models,
        min_confidence=decision.min_confidence,
        estimated_cost_usd=chosen.estimated_cost_usd,
        router_version=decision.router_version,
        request_id=item.request_id,
        unknown_allowed_models=unknown_models,
    )


def model_info(router: Router) -> router_pb2.ModelInfo:
    """GetModelInfo's answer for the active router."""
    encoder = router.manifest["encoder"]
    metrics = struct_pb2.Struct()
    metrics.update(router.manifest["metrics"]["heldout"])
    loaded_at = timestamp_pb2.Timestamp()
    loaded_at.FromNanoseconds(int(router.loaded_at * 1e9))
    return router_pb2.ModelInfo(
        router_version=router.version,
        encoder=router_pb2.EncoderInfo(
            name=encoder["name"],
            source=encoder["source"],
            weights_sha256=encoder["weights_sha256"],
            max_seq_length=encoder["max_seq_length"] or 0,
        ),
        models=[
            router_pb2.CandidateModel(
                name=name,
                input_per_mtok=router.catalog[name].input_per_mtok,
                output_per_mtok=router.catalog[name].output_per_mtok,
                context_window=router.catalog[name].context_window,
            )
            for name in router.models
        ],
        threshold=router.threshold,
        default_min_confidence=router.default_min_confidence,
        heldout_metrics=metrics,
        loaded_at=loaded_at,
    )
