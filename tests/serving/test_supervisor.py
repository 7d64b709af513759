"""``serve --workers N``: every process gets the same port, a share of the cores, its own metrics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from router_ml import ConfigError
from router_ml.serving.config import ServerConfig
from router_ml.serving.supervisor import free_port, serve_workers, worker_configs


def test_workers_share_one_port_and_split_the_cores() -> None:
    configs = worker_configs(ServerConfig(model=Path("m"), port=0, metrics_port=9500), 2)
    assert len({c.port for c in configs}) == 1 and configs[0].port > 0
    assert all(c.reuse_port for c in configs)
    assert [c.metrics_port for c in configs] == [9500, 9501]
    assert {c.encoder_threads for c in configs} == {max(1, (os.cpu_count() or 1) // 2)}


def test_explicit_threads_and_free_metrics_ports_are_kept() -> None:
    config = ServerConfig(model=Path("m"), port=50999, metrics_port=0, encoder_threads=3)
    configs = worker_configs(config, 3)
    assert {(c.port, c.metrics_port, c.encoder_threads) for c in configs} == {(50999, 0, 3)}


def test_serving_needs_a_worker() -> None:
    with pytest.raises(ConfigError, match=r"^workers must be at least 1, got 0$"):
        serve_workers(ServerConfig(model=Path("m")), 0)


def test_the_free_port_can_be_shared_by_two_listeners() -> None:
    port = free_port("127.0.0.1")
    listeners = []
    for _ in range(2):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        listeners.append(listener)
    for listener in listeners:
        listener.close()


def test_a_worker_that_cannot_start_stops_them_all(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "router_ml.cli", "serve", "--model", str(tmp_path / "none")]
    command += ["--workers", "2", "--port", "0", "--metrics-port", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Error:" in done.stderr and str(tmp_path / "none") in done.stderr
