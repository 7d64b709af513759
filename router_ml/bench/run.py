"""Drive a real ``router-ml serve`` subprocess over gRPC from client processes; time a naive reference.

Prompts are real and distinct (no decision-cache hits) from an evaluation log (by default the
bundled one), in three sizes by characters (~4 per token). The naive reference is one process embedding one prompt at a time with
``SentenceTransformer.encode`` (fp32) and applying the router's heads. Each cell also reads the
server's own histograms, so client latency splits into time in the handler and in the encoder.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from router_ml.bench import BUNDLED, SIZE_NAMES
from router_ml.bench.overload import open_loop
from router_ml.data.evallog import read_log
from router_ml.errors import DataError, RouterMLError, ServerStartError

SIZES = dict(zip(SIZE_NAMES, ((60, 120), (300, 520), (1300, 2000)), strict=True))
READY = re.compile(r"serving version (\S+) on (\S+):(\d+) \(metrics: (\S+)\)")
SERVER_HISTOGRAMS = {
    "server_ms": "router_ml_request_duration_seconds",
    "encoder_ms": "router_ml_embedding_duration_seconds",
}
THREADS_PER_CLIENT = 8
#: Seconds a server gets to exit once stopped before it is killed; stderr lines an error quotes.
STOP_TIMEOUT, STDERR_TAIL = 30.0, 20


@dataclass(frozen=True)
class BenchConfig:
    """What ``router-ml bench`` measures."""

    model: Path
    concurrency: tuple[int, ...] = (1, 32)
    requests: int = 300
    naive_requests: int = 60
    data: Path = BUNDLED
    backend: str = "onnx"
    workers: int = 1
    open_loop: tuple[float, ...] = ()
    open_loop_size: str = "medium"
    deadline: float = 0.5
    duration: float = 8.0
    startup_timeout: float = 180.0


def prompts_by_size(data: Path, needed: int, least: int = 1) -> dict[str, list[str]]:
    """Distinct real prompts of each size from the evaluation log ``data``, in file order: at
    most ``needed`` of each.

    Raises
    ------
    DataError
        When ``data`` is not an evaluation log, or has fewer than ``least`` prompts of a size.
    """
    found: dict[str, list[str]] = {size: [] for size in SIZES}
    seen: set[str] = set()
    for prompt in (outcome.prompt for outcome in read_log(data)):
        if prompt in seen:
            continue
        seen.add(prompt)
        for size, (low, high) in SIZES.items():
            if low <= len(prompt) <= high and len(found[size]) < needed:
                found[size].append(prompt)
    for size, prompts in found.items():
        if len(prompts) < least:
            low, high = SIZES[size]
            raise DataError(
                f"{len(prompts)} distinct prompts of {low}-{high} characters ({size}); the bench "
                f"needs at least {least}",
                path=data,
            )
    return found


@contextmanager
def server_process(
    config: BenchConfig, *extra: str
) -> Iterator[tuple[subprocess.Popen, str, list[str]]]:
    """A ``router-ml serve`` subprocess on a free port (``extra`` flags added); yields it, its
    target and its processes' metrics URLs once every process is ready, and stops it after.

    Raises
    ------
    ServerStartError
        When the server exits, or is not ready within ``config.startup_timeout`` seconds.
    """
    command = [sys.executable, "-m", "router_ml.cli", "serve", "--model", str(config.model)]
    command += ["--port", "0", "--metrics-port", "0", "--backend", config.backend]
    command += ["--workers", str(config.workers), *extra]
    with (
        tempfile.TemporaryFile("w+") as stderr,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr) as process,
    ):
        try:
            target, metrics = _wait_ready(process, stderr, config)
            yield process, target, metrics
        finally:
            _stop(process)


def _wait_ready(
    process: subprocess.Popen, stderr: IO[str], config: BenchConfig
) -> tuple[str, list[str]]:
    """The target and metrics URLs of ``process``'s ready lines, one per worker."""
    metrics: list[str] = []
    try:
        for line in _lines(process.stdout, time.monotonic() + config.startup_timeout):
            if match := READY.search(line):
                metrics.append(match[4])
                if len(metrics) == config.workers:
                    return f"{match[2]}:{match[3]}", metrics
    except TimeoutError:
        _stop(process)
        problem = f"not ready after {config.startup_timeout:g} s"
    else:
        problem = f"exited with {process.wait(STOP_TIMEOUT)} before it was ready"
    raise ServerStartError(f"router-ml serve {problem}; {_tail(stderr)}")


def _lines(stdout: IO[bytes], deadline: float) -> Iterator[str]:
    """``stdout``'s lines as they come, until it ends; :class:`TimeoutError` at ``deadline``
    (:func:`time.monotonic`)."""
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                return
            *complete, pending = (pending + chunk).split(b"\n")
            yield from (line.decode(errors="replace") for line in complete)


def _tail(stderr: IO[str]) -> str:
    """The last :data:`STDERR_TAIL` lines a stopped server wrote to ``stderr``."""
    stderr.seek(0)
    lines = stderr.read().splitlines()[-STDERR_TAIL:]
    return "its last stderr lines:\n" + "\n".join(lines) if lines else "it wrote nothing to stderr"


def _stop(process: subprocess.Popen) -> int:
    """Terminate ``process`` (kill it after :data:`STOP_TIMEOUT` s) and reap it; its exit code."""
    process.terminate()
    try:
        return process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _client(
    target: str, prompts: list[str], threads: int
) -> tuple[list[float], list[str], float, float]:
    import threading

    import grpc

    from router_ml.client import route_request
    from router_ml.v1 import router_pb2, router_pb2_grpc

    latencies: list[float] = []
    errors: list[str] = []
    with grpc.insecure_channel(target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        stub.GetModelInfo(router_pb2.GetModelInfoRequest(), timeout=30)  # connect, route nothing

        def run(mine: list[str]) -> None:
            for prompt in mine:
                started = time.perf_counter()
                try:
                    stub.Route(route_request(prompt), timeout=30)
                    latencies.append(time.perf_counter() - started)
                except grpc.RpcError as exc:
                    errors.append(f"{exc.code().name}: {exc.details()}")

        workers = [
            threading.Thread(target=run, args=(prompts[i::threads],)) for i in range(threads)
        ]
        began = time.time()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return latencies, errors, began, time.time()


def drive(target: str, prompts: list[str], concurrency: int) -> dict[str, float]:
    """Latency percentiles (ms), throughput and errors of ``prompts`` sent ``concurrency`` at a time."""
    threads = min(concurrency, THREADS_PER_CLIENT)
    clients = max(1, concurrency // threads)
    shares = [(target, prompts[i::clients], threads) for i in range(clients)]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        results = pool.starmap(_client, shares)
    latencies = np.array([x for r in results for x in r[0]]) * 1000
    errors = [e for r in results for e in r[1]]
    if not len(latencies):
        raise RouterMLError(f"every request failed, the first with {errors[0]}")
    wall = max(r[3] for r in results) - min(r[2] for r in results)
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p90_ms": round(float(np.percentile(latencies, 90)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "throughput_rps": round(len(latencies) / wall, 1),
        "errors": len(errors),
    }


def histogram_totals(urls: list[str]) -> dict[str, tuple[float, float]]:
    """Seconds and observations so far of each of :data:`SERVER_HISTOGRAMS` (Route RPCs only),
    over all processes."""
    totals = dict.fromkeys(SERVER_HISTOGRAMS, (0.0, 0.0))
    names = {name: key for key, name in SERVER_HISTOGRAMS.items()}
    for url in urls:
        with urllib.request.urlopen(url, timeout=10) as page:
            families = text_string_to_metric_families(page.read().decode())
        for family in filter(lambda f: f.name in names, families):
            key = names[family.name]
            routes = [x for x in family.samples if x.labels.get("method", "Route") == "Route"]
            seconds = sum(x.value for x in routes if x.name.endswith("_sum"))
            count = sum(x.value for x in routes if x.name.endswith("_count"))
            totals[key] = (totals[key][0] + seconds, totals[key][1] + count)
    return totals


def server_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float | None]:
    """Mean ms per observation between two :func:`histogram_totals`: per RPC in the handler
    (``server_ms``) and per encoder call, which may serve several RPCs (``encoder_ms``)."""
    means = {}
    for key, (seconds, count) in after.items():
        observed = count - before[key][1]
        means[key] = round(1000 * (seconds - before[key][0]) / observed, 2) if observed else None
    return means


def naive_rps(model: Path, prompts: dict[str, list[str]], n: int) -> dict[str, float]:
    """Prompts per second of the naive reference: one fp32 sentence-transformers call per prompt."""
    from threadpoolctl import threadpool_limits

    from router_ml.routing.router import Router

    threadpool_limits(1, user_api="blas")  # as the server does, so the heads cost the same
    router = Router.load(model, backend="torch")
    router.warm_up()
    rates = {}
    for size, texts in prompts.items():
        started = time.perf_counter()
        for prompt in texts[:n]:
            router.route(prompt)
        rates[size] = round(min(n, len(texts)) / (time.perf_counter() - started), 1)
    return rates


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RouterMLError(f"no VmRSS for process {pid}")


def _serving_pids(pid: int) -> list[int]:
    """The serving processes: ``pid``'s worker children (``--workers N``), else ``pid`` itself.

    multiprocessing's resource tracker, also a child of the supervisor, is not one of them.
    """
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    workers = [
        int(child)
        for child in children
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    ]
    return workers or [pid]


def serving_rss_mb(pid: int) -> tuple[float, float]:
    """Largest and total resident MB of the serving processes (:func:`_serving_pids`); the total
    includes the supervisor ``pid`` when there are workers."""
    serving = _serving_pids(pid)
    sizes = [rss_mb(p) for p in serving]
    return max(sizes), round(sum(sizes) + (rss_mb(pid) if serving != [pid] else 0.0), 1)


def serving_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the serving processes have used so far (from /proc)."""
    ticks = 0
    for serving in _serving_pids(pid):
        fields = Path(f"/proc/{serving}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return ticks / os.sysconf("SC_CLK_TCK")


def measure_cell(
    process_pid: int, metrics: list[str], target: str, prompts: list[str], concurrency: int
) -> dict:
    """One cell: :func:`drive`'s figures, the server's means and its CPU ms per route."""
    before, cpu_before = histogram_totals(metrics), serving_cpu_seconds(process_pid)
    cell = drive(target, prompts, concurrency)
    cpu = serving_cpu_seconds(process_pid) - cpu_before
    cell |= server_means(before, histogram_totals(metrics))
    return cell | {"server_cpu_ms": round(1000 * cpu / len(prompts), 2)}


def bench(config: BenchConfig) -> dict:
    """Run the whole benchmark; returns the JSON-ready result."""
    levels = len(config.concurrency)
    prompts = prompts_by_size(config.data, config.requests * levels, least=levels)
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
        "server": {"backend": config.backend, "workers": config.workers},
    }
    with server_process(config) as (process, target, metrics):
        for size, texts in prompts.items():
            cells: dict = {}
            per_cell = min(config.requests, len(texts) // levels)
            for k, concurrency in enumerate(config.concurrency):
                chunk = texts[k * per_cell : (k + 1) * per_cell]
                cells[f"c{concurrency}"] = measure_cell(
                    process.pid, metrics, target, chunk, concurrency
                )
            repeat = drive(target, texts[:per_cell], max(config.concurrency))
            cells["cache_hit_rps"] = repeat["throughput_rps"]
            result[size] = cells
        result["rss_mb"], result["rss_total_mb"] = serving_rss_mb(process.pid)
        result["server"]["processes"] = len(_serving_pids(process.pid))
    naive = naive_rps(config.model, prompts, config.naive_requests)
    for size in prompts:
        best = max(result[size][f"c{c}"]["throughput_rps"] for c in config.concurrency)
        result[size]["naive_rps"] = naive[size]
        result[size]["ratio"] = round(best / naive[size], 2)
    result["machine"]["load_1min_after"] = os.getloadavg()[0]
    return result


def overload_bench(config: BenchConfig) -> dict:
    """:func:`open_loop` at each of ``config.open_loop``'s rates, ``config.duration`` seconds each,
    on a server without a decision cache (so prompts may repeat across rates)."""
    texts = prompts_by_size(config.data, 10**6)[config.open_loop_size]
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
        "server": {"backend": config.backend, "workers": config.workers, "decision_cache": 0},
        "prompt_size": config.open_loop_size,
        "open_loop": [],
    }
    with server_process(config, "--decision-cache", "0") as (_, target, _metrics):
        for rate in config.open_loop:
            count = max(1, round(rate * config.duration))
            prompts = [texts[i % len(texts)] for i in range(count)]
            result["open_loop"].append(open_loop(target, prompts, rate, config.deadline))
    result["machine"]["load_1min_after"] = os.getloadavg()[0]
    return result
