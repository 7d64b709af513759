"""``router-ml bench`` run for real, small: the JSON has every figure the issue asks for, and a
server that does not start is reported and stopped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import router_ml
from router_ml.bench.run import BenchConfig, server_process
from router_ml.errors import ServerStartError

BENCH = [sys.executable, "-m", "router_ml.cli", "bench"]


def _children() -> set[str]:
    pid = os.getpid()
    return set(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


@pytest.mark.slow
def test_bench_json_has_every_figure(trained_registry: Path):
    command = [sys.executable, "-m", "router_ml.cli", "bench", "--model", str(trained_registry)]
    command += ["--concurrency", "1", "4", "--requests", "8", "--naive-requests", "3", "--json"]
    command += ["--workers", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(done.stdout)
    assert result["server"] == {"backend": "onnx", "workers": 2, "processes": 2}
    assert 0 < result["rss_mb"] < 2000
    assert result["rss_total_mb"] > 2 * result["rss_mb"] * 0.8
    for size in ("short", "medium", "long"):
        for cell in ("c1", "c4"):
            figures = result[size][cell]
            assert figures["errors"] == 0
            assert figures["p50_ms"] <= figures["p99_ms"]
            assert figures["throughput_rps"] > 0
            # the server cannot use more than every core for the cell's whole wall time
            # (30 ms of slack: /proc counts CPU in 10 ms ticks and a cell is only 8 routes)
            ceiling = 1000 * os.cpu_count() / figures["throughput_rps"] + 30
            assert 0 < figures["server_cpu_ms"] <= ceiling
        assert result[size]["naive_rps"] > 0 and result[size]["ratio"] > 0
        one = result[size]["c1"]
        assert 0 < one["encoder_ms"] < one["server_ms"] < one["p99_ms"], "one encoder call per RPC"


def test_open_loop_bench_sends_at_its_rate(trained_registry: Path):
    command = [sys.executable, "-m", "router_ml.cli", "bench", "--model", str(trained_registry)]
    command += ["--open-loop", "4", "--duration", "2", "--deadline", "30", "--size", "short"]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["server"]["decision_cache"] == 0 and result["prompt_size"] == "short"
    (run,) = result["open_loop"]
    assert (run["rate"], run["sent"], run["codes"], run["answered_per_s"]) == (4, 8, {"OK": 8}, 4)
    assert 0 < run["p50_answered_ms"] < 30_000 and run["p50_refused_ms"] is None


def test_a_server_not_ready_in_time_is_stopped(trained_registry: Path):
    before, started = _children(), time.monotonic()
    config = BenchConfig(model=trained_registry, startup_timeout=0.5)
    with (
        pytest.raises(ServerStartError, match=r"^router-ml serve not ready after 0\.5 s; it"),
        server_process(config),
    ):
        pytest.fail("yielded a server before it was ready")
    assert time.monotonic() - started < 10
    assert _children() == before, "the server was left running or unreaped"


def test_bench_says_why_the_server_exited(tmp_path: Path):
    command = [*BENCH, "--model", str(tmp_path / "nowhere"), "--concurrency", "1"]
    done = subprocess.run(
        [*command, "--requests", "1"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    first, *tail = done.stderr.splitlines()
    assert (
        first == "Error: router-ml serve exited with 1 before it was ready; its last stderr lines:"
    )
    assert f"Error: {tmp_path / 'nowhere'}: no such registry or version folder" in tail


def test_an_installed_bench_without_the_bundled_log_asks_for_data(tmp_path: Path):
    site = tmp_path / "site-packages"
    package = Path(router_ml.__file__).parent
    shutil.copytree(package, site / "router_ml", ignore=shutil.ignore_patterns("__pycache__"))
    environment = os.environ | {"PYTHONPATH": str(site)}
    done = subprocess.run(
        [*BENCH, "--model", "m"], capture_output=True, text=True, cwd=tmp_path, env=environment
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: {site}/training/llmrouter_dc/outcomes.jsonl.gz: no evaluation log here to take "
        "prompts from; pass one with --data FILE (the bundled one is only in a source checkout)\n"
    )


def test_bench_takes_its_prompts_from_data(small_log: Path):
    command = [*BENCH, "--model", "m", "--data", str(small_log), "--concurrency", "1", "4"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: {small_log}: 0 distinct prompts of 1300-2000 characters (long); the bench needs "
        "at least 2\n"
    )
