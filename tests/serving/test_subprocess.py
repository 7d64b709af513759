"""``router-ml serve`` as a real subprocess: health, the ready call, ``router-ml route``, SIGHUP, SIGTERM."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from serving_helpers import HOST, READY_TIMEOUT, clone_version, copy_registry, wait_for

from router_ml import Router
from router_ml.artifact.registry import set_current
from router_ml.client import route_request
from router_ml.v1 import router_pb2, router_pb2_grpc

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).with_name("router-ml"))
PROMPT = "Which is larger, 2**10 or 10**3?"
LISTENING = re.compile(r"listening on [\d.]+:(\d+) \(metrics on port (\d+)\)")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Served:
    process: subprocess.Popen
    registry: Path
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    port: int = 0
    metrics_port: int = 0

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"

    def metric(self, name: str) -> float:
        url = f"http://{HOST}:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as page:
            for line in page.read().decode().splitlines():
                if line.startswith(f"{name} "):
                    return float(line.split()[1])
        return 0.0


def _collect(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


class Watcher:
    """Statuses a health Watch stream reports, until NOT_SERVING follows SERVING."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.statuses: list[int] = []
        self._call = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="router_ml.v1.Router"), timeout=READY_TIMEOUT
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for answer in self._call:
                self.statuses.append(answer.status)
                if answer.status == NOT_SERVING and SERVING in self.statuses:
                    self._call.cancel()
        except grpc.RpcError:
            return

    def close(self) -> None:
        self._call.cancel()
        self._thread.join(10)


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


@contextlib.contextmanager
def serving(registry: Path) -> Iterator[Served]:
    """``router-ml serve`` on ``registry`` and free loopback ports, killed at exit if still up."""
    command = [CLI, "serve", "--model", str(registry), "--host", HOST, "--port", "0"]
    command += ["--metrics-port", "0", "--grace", "30", "--poll-interval", "3600"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()
    )
    served = Served(process, registry)
    readers = [
        threading.Thread(target=_collect, args=(stream, lines), daemon=True)
        for stream, lines in ((process.stdout, served.stdout), (process.stderr, served.stderr))
    ]
    for reader in readers:
        reader.start()
    try:
        found = wait_for(
            lambda: next(filter(None, map(LISTENING.search, served.stderr)), None),
            60,
            "router-ml serve to listen",
        )
        served.port, served.metrics_port = int(found[1]), int(found[2])
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        for reader in readers:
            reader.join(10)
        process.stdout.close()
        process.stderr.close()


@pytest.fixture(scope="module")
def served(trained_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(
        copy_registry(trained_registry, tmp_path_factory.mktemp("served") / "registry")
    ) as up:
        yield up


def batch_calls(
    stub: router_pb2_grpc.RouterStub, results: list[object], count: int = 3
) -> list[threading.Thread]:
    """Start ``count`` RouteBatch calls of 200 distinct prompts (no decision-cache hits, so the
    drain lasts); each appends its size or error code."""

    def call(k: int) -> None:
        prompts = [
            f"Explain step {i} of bread recipe {k}, with care for timing." for i in range(200)
        ]
        batch = router_pb2.RouteBatchRequest(requests=[route_request(p) for p in prompts])
        try:
            results.append(len(stub.RouteBatch(batch, timeout=120).responses))
        except grpc.RpcError as exc:
            results.append(exc.code())

    callers = [threading.Thread(target=call, args=(k,)) for k in range(count)]
    for caller in callers:
        caller.start()
    return callers


def signal_a_thread(process: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to one of ``process``'s threads other than its main one (tgkill), as the
    kernel may do with a signal sent to the process."""
    threads = sorted(int(t) for t in os.listdir(f"/proc/{process.pid}/task"))
    other = next(t for t in threads if t != process.pid)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(process.pid, other, signum) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill {process.pid} {other} {signum}")


def route_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "route", *args], capture_output=True, text=True, env=env(), timeout=60
    )


def test_health_then_ready_call(served: Served) -> None:
    with grpc.insecure_channel(served.target) as channel:
        watcher = Watcher(channel)
        try:
            wait_for(lambda: SERVING in watcher.statuses, READY_TIMEOUT, "SERVING")
        finally:
            watcher.close()
    assert watcher.statuses[0] == NOT_SERVING, "NOT_SERVING until loaded and warm"
    ready = wait_for(
        lambda: any("router_ml.v1.Router/Route" in s for s in served.stdout), 10, "ready"
    )
    assert ready
    route_line = next(s for s in served.stdout if s.strip().startswith("router-ml route "))
    grpcurl = next(s for s in served.stdout if s.strip().startswith("grpcurl "))
    assert f"--target {served.target}" in route_line
    assert (
        '-plaintext -d \'{"prompt": ' in grpcurl
        and f"{served.target} router_ml.v1.Router/Route" in grpcurl
    )
    pasted = subprocess.run(
        [CLI, *shlex.split(route_line)[1:]], capture_output=True, text=True, env=env(), timeout=60
    )
    assert pasted.returncode == 0, pasted.stderr
    assert "confidence" in pasted.stdout


def test_route_cli(served: Served, router: Router) -> None:
    expected = router.route(PROMPT, min_confidence=0.3)
    answer = route_cli(PROMPT, "--target", served.target, "--min-confidence", "0.3", "--json")
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert (result["model"], result["router_version"], result["fallback"]) == (
        expected.model,
        expected.router_version,
        False,
    )
    assert result["confidence"] == pytest.approx(expected.confidence, abs=1e-6)
    assert [a["model"] for a in result["alternatives"]] == [e.model for e in expected.ranked[1:]]
    text = route_cli(PROMPT, "--target", served.target)
    assert text.returncode == 0 and text.stdout.startswith(router.route(PROMPT).model)
    bad = route_cli(PROMPT, "--target", served.target, "--allowed-model", "nope")
    assert bad.returncode == 1
    assert (
        bad.stderr.startswith("Error: ")
        and "INVALID_ARGUMENT" in bad.stderr
        and "nope" in bad.stderr
    )


def test_the_serving_process_loads_no_training_libraries(served: Served) -> None:
    route_cli(PROMPT, "--target", served.target)
    mapped = Path(f"/proc/{served.process.pid}/maps").read_text()
    heavy = ("torch", "sentence_transformers", "sklearn", "scipy", "pandas", "matplotlib")
    assert [name for name in heavy if f"site-packages/{name}/" in mapped] == []


def test_sighup_reloads(served: Served) -> None:
    new = clone_version(served.registry, "99990101T000000Z-sighup").name
    set_current(served.registry, new)
    served.process.send_signal(signal.SIGHUP)
    with grpc.insecure_channel(served.target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        wait_for(
            lambda: (
                stub.GetModelInfo(router_pb2.GetModelInfoRequest(), timeout=10).router_version
                == new
            ),
            60,
            "the new version after SIGHUP",
        )
        assert stub.Route(route_request(PROMPT), timeout=30).router_version == new
    assert served.metric('router_ml_reloads_total{result="success"}') == 1
    assert served.metric(f'router_ml_active_version{{version="{new}"}}') == 1


def test_sigterm_drains_in_flight_calls(served: Served) -> None:
    results: list[object] = []
    with grpc.insecure_channel(served.target) as channel:
        watcher = Watcher(channel)
        wait_for(lambda: SERVING in watcher.statuses, READY_TIMEOUT, "SERVING")
        callers = batch_calls(router_pb2_grpc.RouterStub(channel), results)
        wait_for(
            lambda: served.metric("router_ml_in_flight_requests") >= len(callers),
            30,
            lambda: f"all calls in flight (finished: {results})",
        )
        served.process.send_signal(signal.SIGTERM)
        for caller in callers:
            caller.join(120)
        wait_for(
            lambda: watcher.statuses[-1] == NOT_SERVING,
            30,
            lambda: f"NOT_SERVING while draining (saw {watcher.statuses}, calls: {results})",
        )
        watcher.close()
    assert served.process.wait(60) == 0
    assert results == [200, 200, 200]
    assert any("SIGTERM: draining" in line for line in served.stderr)


def test_second_signal_forces_the_exit(trained_registry: Path) -> None:
    """Both signals go to worker threads: the main thread must still act on them."""
    results: list[object] = []
    with serving(trained_registry) as served, grpc.insecure_channel(served.target) as channel:
        wait_for(lambda: any("Try it" in s for s in served.stdout), READY_TIMEOUT, "ready")
        callers = batch_calls(router_pb2_grpc.RouterStub(channel), results)
        wait_for(lambda: served.metric("router_ml_in_flight_requests") >= 1, 30, "calls in flight")
        signal_a_thread(served.process, signal.SIGTERM)
        wait_for(lambda: any("draining" in s for s in served.stderr), 10, "the drain to start")
        signal_a_thread(served.process, signal.SIGINT)
        assert served.process.wait(30) == 1
        for caller in callers:
            caller.join(60)
    assert any("stopping now" in line for line in served.stderr)
    assert len(results) == 3
