"""Python clients for gateways: ``RouterClient(target, timeout=..., fallback_model=...)``, and
``AsyncRouterClient`` with the same calls for asyncio gateways.

Every call carries a deadline. With a ``fallback_model``, a router that cannot answer (down,
too slow, overloaded, an empty answer, any status but INVALID_ARGUMENT) yields that model marked
``fallback=True`` instead of an error (fail open); an invalid request, and any error without a
fallback model, raises ``grpc.RpcError``. A fail-open client also has a circuit breaker: after
``breaker_failures`` timeouts, UNAVAILABLEs or RESOURCE_EXHAUSTEDs in a row it falls back at once
(``error="CIRCUIT_OPEN"``) for ``breaker_cooldown`` seconds, then lets one probe call through.
"""

from __future__ import annotations

import logging
import math
import numbers
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from router_ml.breaker import CircuitBreaker
from router_ml.conversation import message_text, valid_utf8
from router_ml.routing.decision import ModelEstimate
from router_ml.v1 import REASON_PREFIX, router_pb2, router_pb2_grpc

logger = logging.getLogger(__name__)

FAIL_CLOSED_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT})
BREAKER_CODES = frozenset(
    {
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
DEFAULT_TIMEOUT = 0.5
DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_COOLDOWN_S = 5.0
FALLBACK_REASON = "fallback"
EMPTY_ANSWER = "EMPTY_ANSWER"
CIRCUIT_OPEN = "CIRCUIT_OPEN"
FALLBACK_LOG_INTERVAL_S = 10.0
CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


@dataclass(frozen=True)
class RouteResult:
    """The router's answer, or the client's fallback when the router could not answer in time.

    Attributes
    ----------
    model : the model to send the request to.
    confidence : its calibrated pass probability; None for a fallback.
    reason : the router's reason in lower case (``met_min_confidence``, ...), or ``fallback``.
    alternatives : fallback order after ``model`` (empty for a fallback).
    unknown_allowed_models : names in ``allowed_models`` the router's version does not know; it
        ignored them (a retrain may drop a model).
    fallback : True when the router did not answer and ``model`` is the client's fallback model.
    error : the status code name that caused a fallback (``EMPTY_ANSWER`` for a response naming
        no model, ``CIRCUIT_OPEN`` when the circuit breaker made no call), else None.
    """

    model: str
    confidence: float | None
    reason: str
    alternatives: tuple[ModelEstimate, ...]
    restricted_by_allowed_models: bool
    min_confidence: float | None
    estimated_cost_usd: float | None
    router_version: str | None
    request_id: str
    unknown_allowed_models: tuple[str, ...] = ()
    fallback: bool = False
    error: str | None = None


def _estimates(items: Sequence[router_pb2.ModelEstimate]) -> tuple[ModelEstimate, ...]:
    return tuple(
        ModelEstimate(
            e.model,
            e.pass_probability,
            e.estimated_cost_usd,
            e.expected_score if e.HasField("expected_score") else None,
        )
        for e in items
    )


def to_result(response: router_pb2.RouteResponse) -> RouteResult:
    """A RouteResult from the service's RouteResponse."""
    return RouteResult(
        model=response.model,
        confidence=response.confidence,
        reason=router_pb2.Reason.Name(response.reason).removeprefix(REASON_PREFIX).lower(),
        alternatives=_estimates(response.alternatives),
        restricted_by_allowed_models=response.restricted_by_allowed_models,
        min_confidence=response.min_confidence,
        estimated_cost_usd=response.estimated_cost_usd,
        router_version=response.router_version,
        request_id=response.request_id,
        unknown_allowed_models=tuple(response.unknown_allowed_models),
    )


def route_request(
    prompt: str | None = None,
    *,
    messages: Sequence[Mapping[str, str]] | None = None,
    allowed_models: Sequence[str] = (),
    min_confidence: float | None = None,
    num_alternatives: int | None = None,
    request_id: str = "",
) -> router_pb2.RouteRequest:
    """A RouteRequest; ``messages`` are ``{"role": ..., "content": ...}`` mappings (chat format,
    content as text, None or OpenAI-style parts, whose text parts are kept)."""
    return router_pb2.RouteRequest(
        prompt=valid_utf8(prompt or ""),
        messages=[
            router_pb2.Message(role=m["role"], content=message_text(m.get("content")))
            for m in messages or ()
        ],
        request_id=request_id,
        allowed_models=list(allowed_models),
        min_confidence=min_confidence,
        num_alternatives=num_alternatives,
    )


def _checked_failures(value: int | None) -> int:
    """``breaker_failures`` as a count, 0 for None (no breaker)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"breaker_failures must be a whole number >= 0 (0 or None: no breaker), got {value!r}"
        )
    return int(value)


def _checked_cooldown(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"breaker_cooldown must be a number of seconds > 0, got {value!r}")
    return float(value)


class _FailOpen:
    """What both clients share: the constructor, the deadline, and turning a failed call into a
    fallback; each client opens its own kind of channel."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        fallback_model: str | None = None,
        breaker_failures: int | None = DEFAULT_BREAKER_FAILURES,
        breaker_cooldown: float = DEFAULT_BREAKER_COOLDOWN_S,
    ) -> None:
        failures = _checked_failures(breaker_failures)
        cooldown = _checked_cooldown(breaker_cooldown)
        self.target = target
        self.timeout = timeout
        self.fallback_model = fallback_model
        self._log_lock = threading.Lock()
        self._unlogged_fallbacks = 0
        self._logged_at = -FALLBACK_LOG_INTERVAL_S
        self._breaker = CircuitBreaker(
            failures if fallback_model is not None else 0, cooldown, f"router at {target}"
        )
        self._channel = self._open_channel(target)
        self._stub = router_pb2_grpc.RouterStub(self._channel)

    def _open_channel(self, target: str) -> grpc.Channel | grpc.aio.Channel:
        raise NotImplementedError

    def _deadline(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def _circuit_open(self, request: router_pb2.RouteRequest) -> RouteResult | None:
        """The fallback, at once, when the breaker allows no call; else None (make the call)."""
        return None if self._breaker.allow() else self._fallback(CIRCUIT_OPEN, request)

    def _answered(
        self, response: router_pb2.RouteResponse, request: router_pb2.RouteRequest
    ) -> RouteResult:
        self._breaker.record_success()
        if not response.model and self.fallback_model is not None:
            return self._fallback(EMPTY_ANSWER, request)
        return to_result(response)

    def _failed(self, exc: grpc.RpcError, request: router_pb2.RouteRequest) -> RouteResult:
        code = exc.code()
        if code in BREAKER_CODES:
            self._breaker.record_failure(code.name)
        else:
            self._breaker.release()
        if self.fallback_model is None or code in FAIL_CLOSED_CODES:
            raise exc
        return self._fallback(code.name, request)

    def _fallback(self, error: str, request: router_pb2.RouteRequest) -> RouteResult:
        model = self.fallback_model
        allowed = list(request.allowed_models)
        if allowed and model not in allowed:
            model = allowed[0]
        self._log_fallback(error, model)
        return RouteResult(
            model=model,
            confidence=None,
            reason=FALLBACK_REASON,
            alternatives=(),
            restricted_by_allowed_models=False,
            min_confidence=None,
            estimated_cost_usd=None,
            router_version=None,
            request_id=request.request_id,
            fallback=True,
            error=error,
        )

    def _log_fallback(self, error: str, model: str) -> None:
        with self._log_lock:
            self._unlogged_fallbacks += 1
            now = time.monotonic()
            if now - self._logged_at < FALLBACK_LOG_INTERVAL_S:
                return
            count, self._unlogged_fallbacks, self._logged_at = self._unlogged_fallbacks, 0, now
        logger.warning(
            "router at %s: %s; fell back to %s (%d fallback(s) since the last warning)",
            self.target,
            error,
            model,
            count,
        )


class RouterClient(_FailOpen):
    """A connection to a router-ml server.

    Parameters
    ----------
    target : ``host:port`` of the server.
    timeout : default deadline of every call, in seconds.
    fallback_model : model to return when the router cannot answer (fail open); None raises
        instead (fail closed). Fallbacks are logged at most once per ``FALLBACK_LOG_INTERVAL_S``.
    breaker_failures : with a fallback model, consecutive DEADLINE_EXCEEDED, UNAVAILABLE or
        RESOURCE_EXHAUSTED answers that open the circuit breaker: :meth:`route` then falls back
        at once, with ``error=CIRCUIT_OPEN`` and no call. Any answer (an empty one too) resets
        the count; other statuses (INVALID_ARGUMENT, INTERNAL, ...) leave it. 0 or None: no
        breaker.
    breaker_cooldown : seconds the breaker stays open; then one call probes the router, and
        closes the breaker if it answers or opens it for another cool-down if it fails.

    The channel sends keepalive pings (a vanished server is noticed within seconds) and retries a
    lost connection every 0.25-2 s, so routing resumes soon after the server is back (with the
    breaker open, at its next probe).
    """

    def _open_channel(self, target: str) -> grpc.Channel:
        return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)

    def route(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        allowed_models: Sequence[str] = (),
        min_confidence: float | None = None,
        num_alternatives: int | None = None,
        request_id: str = "",
        timeout: float | None = None,
    ) -> RouteResult:
        """Route one prompt or conversation (see :func:`route_request`).

        Raises
        ------
        grpc.RpcError
            For invalid requests, and when the router cannot answer and there is no fallback.
        """
        request = route_request(
            prompt,
            messages=messages,
            allowed_models=allowed_models,
            min_confidence=min_confidence,
            num_alternatives=num_alternatives,
            request_id=request_id,
        )
        if (refused := self._circuit_open(request)) is not None:
            return refused
        try:
            response = self._stub.Route(request, timeout=self._deadline(timeout))
        except grpc.RpcError as exc:
            return self._failed(exc, request)
        except BaseException:
            self._breaker.release()
            raise
        return self._answered(response, request)

    def route_batch(
        self, requests: Sequence[router_pb2.RouteRequest], *, timeout: float | None = None
    ) -> list[RouteResult]:
        """Route many requests (build them with :func:`route_request`) in one call; never falls
        back, and is outside the circuit breaker."""
        batch = router_pb2.RouteBatchRequest(requests=list(requests))
        answer = self._stub.RouteBatch(batch, timeout=self._deadline(timeout))
        return [to_result(r) for r in answer.responses]

    def model_info(self, *, timeout: float | None = None) -> router_pb2.ModelInfo:
        """The active router version, its encoder, models, prices and held-out metrics."""
        return self._stub.GetModelInfo(
            router_pb2.GetModelInfoRequest(), timeout=self._deadline(timeout)
        )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRouterClient(_FailOpen):
    """:class:`RouterClient` for asyncio gateways (``grpc.aio``): the same calls, awaited, so a
    slow router never blocks the event loop; the same keywords, fail-open rules, circuit breaker
    and channel options."""

    def _open_channel(self, target: str) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)

    async def route(
        self, prompt: str | None = None, *, timeout: float | None = None, **options: Any
    ) -> RouteResult:
        """Route one prompt or conversation; ``options`` are :func:`route_request`'s keywords
        (``messages``, ``allowed_models``, ...), as for :meth:`RouterClient.route`."""
        request = route_request(prompt, **options)
        if (refused := self._circuit_open(request)) is not None:
            return refused
        try:
            response = await self._stub.Route(request, timeout=self._deadline(timeout))
        except grpc.RpcError as exc:
            return self._failed(exc, request)
        except BaseException:
            self._breaker.release()
            raise
        return self._answered(response, request)

    async def model_info(self, *, timeout: float | None = None) -> router_pb2.ModelInfo:
        """The active router version, as :meth:`RouterClient.model_info`."""
        return await self._stub.GetModelInfo(
            router_pb2.GetModelInfoRequest(), timeout=self._deadline(timeout)
        )

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncRouterClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
