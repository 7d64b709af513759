"""Settings of one routing server, shared by ``create_server`` and ``router-ml serve``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from router_ml.embedding.backends import BACKENDS, Backend
from router_ml.errors import ConfigError

DEFAULT_PORT = 50051
DEFAULT_METRICS_PORT = 9464
SPARE_RPC_THREADS = 2


@dataclass(frozen=True)
class ServerConfig:
    """How to serve a router.

    Attributes
    ----------
    model : a registry folder (serves ``model/current`` and follows it) or one version folder.
    host, port : where gRPC listens; port 0 picks a free one.
    metrics_port : where Prometheus metrics are served on ``host``; 0 picks a free one.
    grace : seconds in-flight requests get to finish on SIGTERM.
    drain_delay : seconds between SIGTERM (health NOT_SERVING) and refusing new requests.
    max_prompt_bytes : UTF-8 bytes a prompt (or all message contents together) may have.
    max_message_bytes : gRPC receive limit for one request; larger ones get RESOURCE_EXHAUSTED.
    max_batch : requests one RouteBatch call may carry.
    rpc_threads : gRPC handler threads (they wait on the embedding worker, which encodes); all
        but ``SPARE_RPC_THREADS`` may route at once, the spare ones answer health checks.
    max_embed_batch : prompts the embedding worker encodes in one call, across requests.
    poll_interval : seconds between checks of where ``current`` points.
    backend : the encoder: ``onnx`` (the version's fp32 ONNX export, no torch), ``onnx-int8``
        (its int8 quantization: faster, not exact) or ``torch``.
    encoder_threads : onnxruntime intra-op threads (None: one per core).
    decision_cache : recent decisions kept (0: no cache).
    reuse_port : let several server processes share the port (SO_REUSEPORT).
    """

    model: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    metrics_port: int = DEFAULT_METRICS_PORT
    grace: float = 10.0
    drain_delay: float = 0.0
    max_prompt_bytes: int = 1024 * 1024
    max_message_bytes: int = 4 * 1024 * 1024
    max_batch: int = 512
    rpc_threads: int = 64
    max_embed_batch: int = 64
    poll_interval: float = 2.0
    backend: Backend = "onnx"
    encoder_threads: int | None = None
    decision_cache: int = 4096
    reuse_port: bool = False

    @property
    def route_slots(self) -> int:
        """Route and RouteBatch calls handled at once; more are refused as RESOURCE_EXHAUSTED."""
        return self.rpc_threads - SPARE_RPC_THREADS

    def __post_init__(self) -> None:
        for name in ("port", "metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be in [0, 65535], got {getattr(self, name)}")
        for name in ("max_prompt_bytes", "max_message_bytes", "max_batch", "max_embed_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.route_slots < 1:
            raise ConfigError(
                f"rpc_threads must be at least {SPARE_RPC_THREADS + 1} ({SPARE_RPC_THREADS} are "
                f"kept for health checks), got {self.rpc_threads}"
            )
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.encoder_threads is not None and self.encoder_threads < 1:
            raise ConfigError(f"encoder_threads must be at least 1, got {self.encoder_threads}")
        if self.decision_cache < 0:
            raise ConfigError(f"decision_cache must be at least 0, got {self.decision_cache}")
        if not self.drain_delay >= 0:
            raise ConfigError(f"drain_delay must be >= 0 seconds, got {self.drain_delay}")
        for name in ("grace", "poll_interval"):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"{name} must be a positive number of seconds, got {getattr(self, name)}"
                )


def address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
