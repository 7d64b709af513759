"""``router-ml serve --workers N``: N whole server processes sharing one port (SO_REUSEPORT).

Each process has its own encoder, heads, embedding worker and metrics port, and ``cores / N``
encoder threads, so together they do not oversubscribe the cores; the kernel spreads new
connections over them, and Python work (gRPC, decisions) no longer shares one interpreter lock.
The parent forwards SIGTERM, SIGINT and SIGHUP to every process; when one exits, it drains the
others, and it exits 0 only when every process did.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import wait
from types import FrameType

from router_ml.errors import ConfigError, RouterMLError
from router_ml.serving.config import ServerConfig
from router_ml.serving.server import RoutingServer, serve

logger = logging.getLogger(__name__)

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def free_port(host: str) -> int:
    """A port on ``host`` that is free now (bound with SO_REUSEPORT, as the servers will)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def worker_configs(config: ServerConfig, workers: int) -> list[ServerConfig]:
    """One config per process: the same port with SO_REUSEPORT, a share of the cores each.

    Metrics ports are ``metrics_port + i`` (or each a free one when ``metrics_port`` is 0).
    """
    port = config.port or free_port(config.host)
    threads = config.encoder_threads or max(1, (os.cpu_count() or 1) // workers)
    return [
        replace(
            config,
            port=port,
            reuse_port=True,
            encoder_threads=threads,
            metrics_port=config.metrics_port + i if config.metrics_port else 0,
        )
        for i in range(workers)
    ]


def _run_worker(
    config: ServerConfig, level: int, on_ready: Callable[[RoutingServer], None] | None
) -> None:
    os.setpgrp()  # a terminal's Ctrl-C reaches the parent only, which forwards it once
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code = serve(config, on_ready=on_ready)
    except RouterMLError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        code = 1
    raise SystemExit(code)


def serve_workers(
    config: ServerConfig,
    workers: int,
    on_ready: Callable[[RoutingServer], None] | None = None,
) -> int:
    """Run ``workers`` server processes; 0 when every one drained cleanly.

    When one process exits (a failed start, a crash), the others are asked to drain too, so the
    service is either whole or gone, never silently short of capacity. ``on_ready`` runs in each
    process once it serves (it must be picklable: a module function).

    Raises
    ------
    ConfigError
        When ``workers`` < 1.
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        return serve(config, on_ready=on_ready)
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    processes = [
        context.Process(target=_run_worker, args=(c, level, on_ready), name=f"router-ml-serve-{i}")
        for i, c in enumerate(worker_configs(config, workers))
    ]

    stopping: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGHUP:
            stopping.append(signum)
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        for process in processes:
            process.start()
        wait([process.sentinel for process in processes])
        if not stopping:  # one process ended on its own: drain the rest (once, not forced)
            forward(signal.SIGTERM, None)
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    codes = [process.exitcode for process in processes]
    logger.info("server processes exited with %s", codes)
    return 0 if all(code == 0 for code in codes) else 1
