"""Helpers of the serving tests: servers on 127.0.0.1 port 0, registry copies, metric samples."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from router_ml.artifact.manifest import MANIFEST_NAME, seal
from router_ml.artifact.registry import CURRENT, current_version
from router_ml.serving import RoutingServer, ServerConfig, create_server

HOST = "127.0.0.1"
READY_TIMEOUT = 120.0
SMALL_LIMITS = {"max_prompt_bytes": 4096, "max_message_bytes": 64 * 1024, "max_batch": 32}


def server_config(model: Path, **overrides) -> ServerConfig:
    """A config for tests: loopback, free ports, small limits."""
    settings = {"host": HOST, "port": 0, "metrics_port": 0, **SMALL_LIMITS, **overrides}
    return ServerConfig(model=model, **settings)


@contextlib.contextmanager
def running(config: ServerConfig, *, wait: bool = True) -> Iterator[RoutingServer]:
    """A started server (ready unless ``wait`` is False), stopped at exit."""
    server, _ = create_server(config)
    server.start()
    try:
        if wait:
            assert server.wait_until_ready(READY_TIMEOUT)
        yield server
    finally:
        server.stop(0)


def wait_for(
    condition: Callable[[], object], timeout: float, what: str | Callable[[], str]
) -> object:
    """Poll ``condition`` until it is truthy, at most ``timeout`` seconds.

    ``what`` names the wait in the failure; a callable is asked then, to show the state reached.
    """
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what() if callable(what) else what}"
    )


def copy_registry(source: Path, target: Path) -> Path:
    """A registry holding a copy of ``source``'s current version, current pointing at it."""
    version = current_version(source)
    target.mkdir(parents=True)
    shutil.copytree(source / version, target / version)
    (target / CURRENT).symlink_to(version)
    return target


def clone_version(registry: Path, name: str, source: str | None = None) -> Path:
    """Copy version ``source`` (default: current) as ``name``, resealed under its new name."""
    folder = registry / name
    shutil.copytree(registry / (source or current_version(registry)), folder)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    seal(folder, {**manifest, "version": name})
    return folder


def metric(server: RoutingServer, name: str, **labels: str) -> float:
    """A sample of the server's Prometheus registry (0 when absent)."""
    return server.metrics.registry.get_sample_value(name, labels) or 0.0
