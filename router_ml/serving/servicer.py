"""The Router gRPC servicer: request -> validated input -> domain call -> response."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import grpc

from router_ml.routing.decision import RouteDecision
from router_ml.routing.router import Router
from router_ml.serving.batching import EmbeddingWorker
from router_ml.serving.config import ServerConfig
from router_ml.serving.convert import (
    RouteInput,
    batch_inputs,
    model_info,
    route_input,
    route_response,
)
from router_ml.serving.decision_cache import DecisionCache
from router_ml.serving.dispatch import Deadline, route_items
from router_ml.serving.metrics import ServingMetrics
from router_ml.serving.model_holder import ModelHolder
from router_ml.serving.status import NotReadyError, OverloadedError, status_of
from router_ml.v1 import router_pb2, router_pb2_grpc

logger = logging.getLogger(__name__)

Reply = TypeVar("Reply")


class RouterServicer(router_pb2_grpc.RouterServicer):
    """Answers Route, RouteBatch and GetModelInfo with the holder's current router."""

    def __init__(
        self,
        holder: ModelHolder,
        worker: EmbeddingWorker,
        metrics: ServingMetrics,
        config: ServerConfig,
    ) -> None:
        self.holder = holder
        self.worker = worker
        self.metrics = metrics
        self.config = config
        self.cache = DecisionCache(
            config.decision_cache,
            metrics.decision_cache.labels(result="hit").inc,
            metrics.decision_cache.labels(result="miss").inc,
        )
        self._route_slots = threading.BoundedSemaphore(config.route_slots)

    def Route(
        self, request: router_pb2.RouteRequest, context: grpc.ServicerContext
    ) -> router_pb2.RouteResponse:
        def work(router: Router) -> router_pb2.RouteResponse:
            item = route_input(request, self.config.max_prompt_bytes)
            (decision,) = self._route(router, [item], context)
            return self._response(router, decision, item)

        return self._handle("Route", context, work)

    def RouteBatch(
        self, request: router_pb2.RouteBatchRequest, context: grpc.ServicerContext
    ) -> router_pb2.RouteBatchResponse:
        def work(router: Router) -> router_pb2.RouteBatchResponse:
            items = batch_inputs(request, self.config.max_prompt_bytes, self.config.max_batch)
            decisions = self._route(router, items, context)
            return router_pb2.RouteBatchResponse(
                responses=[
                    self._response(router, d, i) for d, i in zip(decisions, items, strict=True)
                ]
            )

        return self._handle("RouteBatch", context, work)

    def GetModelInfo(
        self, request: router_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> router_pb2.ModelInfo:
        return self._handle("GetModelInfo", context, model_info)

    def _response(
        self, router: Router, decision: RouteDecision, item: RouteInput
    ) -> router_pb2.RouteResponse:
        unknown = router.unknown_models(item.allowed_models)
        if unknown:
            self.metrics.unknown_allowed.inc()
        return route_response(decision, item, unknown)

    def _route(
        self, router: Router, items: list[RouteInput], context: grpc.ServicerContext
    ) -> list[RouteDecision]:
        """Route ``items`` in one of ``route_slots`` handler threads; the rest of the pool stays
        free for health checks and GetModelInfo however many routing calls wait."""
        if not self._route_slots.acquire(blocking=False):
            raise OverloadedError(
                f"overloaded: all {self.config.route_slots} routing handlers are busy"
            )
        try:
            decisions = route_items(
                router, self.worker, items, Deadline.after(context.time_remaining()), self.cache
            )
        finally:
            self._route_slots.release()
        for decision in decisions:
            self.metrics.routed.labels(model=decision.model).inc()
        return decisions

    def _handle(
        self, method: str, context: grpc.ServicerContext, work: Callable[[Router], Reply]
    ) -> Reply:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            with self.metrics.in_flight.track_inprogress():
                router = self.holder.router
                if router is None:
                    raise NotReadyError("the router is still loading; retry shortly")
                return work(router)
        except Exception as exc:
            code, details = status_of(exc, method)
            logger.debug("%s -> %s: %s", method, code.name, details)
            context.abort(code, details)
        finally:
            self.metrics.requests.labels(method=method, code=code.name).inc()
            self.metrics.latency.labels(method=method).observe(time.perf_counter() - started)
