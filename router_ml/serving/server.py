"""Build the routing server in one function (:func:`create_server`), run it in another (:func:`serve`)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from threadpoolctl import threadpool_limits

from router_ml.errors import ConfigError
from router_ml.routing.router import Router
from router_ml.serving.batching import EmbeddingWorker
from router_ml.serving.config import ServerConfig, address
from router_ml.serving.metrics import ServingMetrics
from router_ml.serving.model_holder import ModelHolder
from router_ml.serving.servicer import RouterServicer
from router_ml.v1 import router_pb2, router_pb2_grpc

logger = logging.getLogger(__name__)

ROUTER_SERVICE = router_pb2.DESCRIPTOR.services_by_name["Router"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
HEALTH_NAMES = ("", ROUTER_SERVICE)
SIGNAL_CHECK_S = 0.25
KEEPALIVE_OPTIONS = (  # accept the client's keepalive pings (every 10 s, router_ml.client)
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 0),
)


def _wait_for(flag: Callable[[], bool]) -> None:
    """Sleep in short slices until ``flag()``, so the main thread keeps running signal handlers.

    The kernel may hand SIGTERM to any of the process's threads; Python then runs the handler only
    when the main thread next executes bytecode, which an untimed wait never does. The handlers
    only set plain attributes that ``flag`` reads: a handler that takes a lock (``Event.set``, or
    ``grpc.stop(None)``, which waits for the shutdown) can deadlock against the lock the thread
    it interrupted holds.
    """
    while not flag():
        time.sleep(SIGNAL_CHECK_S)


class RoutingServer:
    """A gRPC server with the Router, health and reflection services, metrics and hot reload."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.port = 0  # set by create_server once bound
        self.metrics_port: int | None = None
        self.metrics = ServingMetrics()
        self.health = health.HealthServicer()
        self.holder = ModelHolder(
            config.model,
            self.metrics,
            config.poll_interval,
            self._ready,
            config.backend,
            config.encoder_threads,
        )
        self.worker = EmbeddingWorker(config.max_embed_batch, self.metrics.embedding.observe)
        self.metrics.outstanding_prompts.set_function(lambda: self.worker.outstanding)
        self._stop_now = False
        self.grpc = grpc.server(
            ThreadPoolExecutor(config.rpc_threads, thread_name_prefix="router-ml-rpc"),
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.so_reuseport", int(config.reuse_port)),
                *KEEPALIVE_OPTIONS,
            ],
        )
        router_pb2_grpc.add_RouterServicer_to_server(
            RouterServicer(self.holder, self.worker, self.metrics, config), self.grpc
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection(
            (ROUTER_SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME), self.grpc
        )
        for name in HEALTH_NAMES:
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    @property
    def router(self) -> Router | None:
        """The router being served, or None while the first version loads."""
        return self.holder.router

    def start(self) -> None:
        """Start serving metrics and RPCs; the first version loads in the background.

        BLAS gets one thread: the heads' small products (one prompt against ~10k neighbours) took
        12 ms with OpenBLAS's threads contending with onnxruntime's on 2 cores, 1.5 ms without.
        """
        threadpool_limits(1, user_api="blas")
        self.metrics_port = self.metrics.serve(self.config.host, self.config.metrics_port)
        self.worker.start()
        self.grpc.start()
        self.holder.start()

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Wait for the first version; True once serving, False on timeout.

        Raises
        ------
        RouterMLError (or the loader's error)
            When the first version cannot be loaded.
        """
        if not self.holder.settled.wait(timeout):
            return False
        if self.holder.startup_error is not None:
            raise self.holder.startup_error
        return True

    def reload(self) -> None:
        """Check the model path now (what SIGHUP does)."""
        self.holder.request_reload()

    def stop(self, grace: float | None, delay: float = 0.0) -> None:
        """Go NOT_SERVING, keep answering for ``delay`` seconds (while load balancers take the
        server out), refuse new RPCs, give in-flight ones ``grace`` seconds, then shut down;
        :meth:`stop_now` cuts the delay and the grace short."""
        self.health.enter_graceful_shutdown()
        ends = time.monotonic() + delay
        while not self._stop_now and (left := ends - time.monotonic()) > 0:
            time.sleep(min(left, SIGNAL_CHECK_S))
        drained = self.grpc.stop(grace)
        while not drained.wait(SIGNAL_CHECK_S):  # in slices, for the handlers (see _wait_for)
            if self._stop_now:
                self.grpc.stop(None)
        self.holder.stop()
        self.worker.stop()
        self.metrics.close()

    def stop_now(self) -> None:
        """Cut a running :meth:`stop`'s grace short; it only sets a flag, so a signal handler may
        call it (see :func:`_wait_for`)."""
        self._stop_now = True

    def _ready(self, router: Router) -> None:
        for name in HEALTH_NAMES:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info("serving %s on %s:%d", router.version, self.config.host, self.port)


def create_server(config: ServerConfig) -> tuple[RoutingServer, int]:
    """Build a routing server bound to ``config.host:config.port``; returns it and the bound port.

    Raises
    ------
    ConfigError
        When the address cannot be bound (in use, or not an address of this machine).
    """
    server = RoutingServer(config)
    where = address(config.host, config.port)
    try:
        server.port = server.grpc.add_insecure_port(where)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {where}: {exc}") from None
    if not server.port:
        raise ConfigError(f"cannot listen on {where}")
    return server, server.port


class _Signals:
    """SIGTERM/SIGINT ask for a drain (a second one forces the exit); SIGHUP asks for a reload."""

    def __init__(self, server: RoutingServer) -> None:
        self.server = server
        self.stop_requested = False
        self.forced = False
        self._previous = {
            sig: signal.signal(sig, handler)
            for sig, handler in (
                (signal.SIGTERM, self._stop),
                (signal.SIGINT, self._stop),
                (signal.SIGHUP, self._reload),
            )
        }

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stop_requested:
            logger.info("%s: draining (send it again to stop at once)", signal.Signals(signum).name)
            self.stop_requested = True
            return
        logger.warning("%s again: stopping now", signal.Signals(signum).name)
        self.forced = True
        self.server.stop_now()

    def _reload(self, signum: int, frame: FrameType | None) -> None:
        logger.info("SIGHUP: checking for a new router version")
        self.server.reload()

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _wait_ready(server: RoutingServer, signals: _Signals) -> bool:
    while not server.wait_until_ready(timeout=SIGNAL_CHECK_S):
        if signals.stop_requested:
            return False
    return True


def serve(config: ServerConfig, on_ready: Callable[[RoutingServer], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then drain; call from the main thread.

    Returns 0 after a clean drain, 1 when a second signal forced the stop.

    Raises
    ------
    RouterMLError
        When the address cannot be bound or the first version cannot be loaded.
    """
    server, _ = create_server(config)
    signals = _Signals(server)
    try:
        server.start()
        logger.info(
            "listening on %s (metrics on port %d); loading %s",
            address(config.host, server.port),
            server.metrics_port,
            config.model,
        )
        if _wait_ready(server, signals) and on_ready is not None:
            on_ready(server)
        _wait_for(lambda: signals.stop_requested)
        server.stop(config.grace, config.drain_delay)
    except BaseException:
        server.stop(0)
        raise
    finally:
        signals.restore()
    logger.info("stopped%s", " (forced)" if signals.forced else "")
    return 1 if signals.forced else 0
