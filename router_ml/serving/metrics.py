"""Prometheus metrics of one routing server, on a registry of its own. Never any prompt text.

Besides the router's own series, the registry has prometheus-client's standard process (resident
memory, CPU seconds, open files), Python platform and garbage-collector series, so dashboards and
alerts written for any Python exporter work unchanged.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from router_ml.errors import ConfigError

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5)


class ServingMetrics:
    """The server's counters, histograms and gauges, and the HTTP endpoint that exposes them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "router_ml_requests",
            "RPCs answered, by method and gRPC status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.routed = Counter(
            "router_ml_routed",
            "Prompts routed (Route and RouteBatch items), by chosen model",
            ["model"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "router_ml_request_duration_seconds",
            "Time from receiving an RPC to answering it, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.embedding = Histogram(
            "router_ml_embedding_duration_seconds",
            "Time of one encoder call (it may serve several requests)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "router_ml_in_flight_requests",
            "RPCs being handled (Route, RouteBatch, GetModelInfo)",
            registry=self.registry,
        )
        self.unknown_allowed = Counter(
            "router_ml_unknown_allowed_models",
            "Routed prompts whose allowed_models named models the version does not know (ignored)",
            registry=self.registry,
        )
        self.outstanding_prompts = Gauge(
            "router_ml_encoder_outstanding_prompts",
            "Prompts queued for or being encoded",
            registry=self.registry,
        )
        self.active_version = Gauge(
            "router_ml_active_version",
            "1 for the router version being served",
            ["version"],
            registry=self.registry,
        )
        self.loaded_at = Gauge(
            "router_ml_active_version_loaded_timestamp_seconds",
            "When the version being served was loaded (Unix time)",
            registry=self.registry,
        )
        self.reloads = Counter(
            "router_ml_reloads",
            "Attempts to load a router version, by result (success or failure)",
            ["result"],
            registry=self.registry,
        )
        self.current_rejected = Gauge(
            "router_ml_current_rejected",
            "1 while the version current points to failed to load and an older one is served",
            registry=self.registry,
        )
        self.decision_cache = Counter(
            "router_ml_decision_cache",
            "Decision cache look-ups, by result (hit or miss)",
            ["result"],
            registry=self.registry,
        )
        self._http: WSGIServer | None = None

    def set_active(self, version: str, loaded_at: float) -> None:
        """Record the version now being served."""
        self.active_version.clear()
        self.active_version.labels(version=version).set(1)
        self.loaded_at.set(loaded_at)

    def serve(self, host: str, port: int) -> int:
        """Expose ``/metrics`` on ``host:port`` (0 picks a free port); returns the port."""
        try:
            self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc}") from None
        bound = int(self._http.server_port)
        logger.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        """Stop the HTTP endpoint."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
