"""``router-ml bench``: parse flags, run :func:`router_ml.bench.run.bench`, print a table or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from router_ml.bench import BUNDLED, SIZE_NAMES
from router_ml.cli_options import HelpFormatter, number_in
from router_ml.embedding.backends import BACKENDS
from router_ml.errors import DataError


def add_bench(commands: argparse._SubParsersAction) -> None:
    """Register ``router-ml bench``."""
    parser = commands.add_parser(
        "bench",
        help="benchmark a real server over gRPC against a naive sentence-transformers reference",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model", required=True, type=Path, metavar="DIR", help="registry or version"
    )
    parser.add_argument(
        "--concurrency",
        type=number_in(1, kind=int),
        nargs="+",
        default=[1, 32],
        metavar="N",
        help="requests in flight",
    )
    parser.add_argument(
        "--requests",
        type=number_in(1, kind=int),
        default=300,
        help="requests per size and concurrency",
    )
    parser.add_argument(
        "--naive-requests",
        type=number_in(1, kind=int),
        default=60,
        help="prompts per size for the naive reference",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=BUNDLED,
        metavar="FILE",
        help="evaluation log whose prompts are sent, in any format train reads (default: the "
        "bundled training/llmrouter_dc/outcomes.jsonl.gz, in a source checkout)",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="onnx", help="the server's encoder")
    parser.add_argument(
        "--workers",
        type=number_in(1, kind=int),
        default=1,
        help="server processes (serve --workers)",
    )
    parser.add_argument(
        "--open-loop",
        type=number_in(0, above=True),
        nargs="+",
        default=(),
        metavar="RATE",
        help="instead: send requests at each fixed RATE per second (open loop, overload)",
    )
    parser.add_argument(
        "--size", choices=SIZE_NAMES, default="medium", help="prompt size of the --open-loop runs"
    )
    parser.add_argument(
        "--deadline",
        type=number_in(0, above=True),
        default=0.5,
        help="seconds each --open-loop request may take",
    )
    parser.add_argument(
        "--duration",
        type=number_in(0, above=True),
        default=8.0,
        help="seconds of sending per --open-loop rate",
    )
    parser.add_argument(
        "--startup-timeout",
        type=number_in(0, above=True),
        default=180.0,
        metavar="S",
        help="seconds the server may take to load and become ready",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=_run_bench)


def _table(result: dict) -> str:
    lines = [
        "size    conc  p50 ms  p90 ms  p99 ms   routes/s  errors  server ms  encoder ms  "
        "cpu ms/route"
    ]
    for size in SIZE_NAMES:
        for name, cell in result[size].items():
            if name.startswith("c") and isinstance(cell, dict):
                lines.append(
                    f"{size:<7} {name[1:]:>4} {cell['p50_ms']:>7} {cell['p90_ms']:>7} "
                    f"{cell['p99_ms']:>7} {cell['throughput_rps']:>10} {cell['errors']:>7} "
                    f"{cell['server_ms']!s:>10} {cell['encoder_ms']!s:>11} "
                    f"{cell['server_cpu_ms']:>13}"
                )
        cells = result[size]
        lines.append(
            f"{size:<7} naive {cells['naive_rps']}/s, ratio {cells['ratio']}x, "
            f"cache hits {cells['cache_hit_rps']}/s"
        )
    machine = result["machine"]
    lines.append(
        f"server ({result['server']['backend']}, {result['server']['workers']} process(es)) RSS "
        f"{result['rss_mb']} MB per process, {result['rss_total_mb']} MB in all; "
        f"{machine['cpus']} CPUs, load {machine['load_1min']:.2f}"
    )
    return "\n".join(lines)


def _open_loop_table(result: dict) -> str:
    lines = [
        f"open loop, {result['prompt_size']} prompts: rate/s  sent  answered/s  "
        "p50 answered ms  p50 refused ms  codes"
    ]
    for run in result["open_loop"]:
        codes = ", ".join(f"{code} {n}" for code, n in sorted(run["codes"].items()))
        lines.append(
            f"{run['rate']:>8} {run['sent']:>6} {run['answered_per_s']:>11} "
            f"{run['p50_answered_ms']!s:>16} {run['p50_refused_ms']!s:>15}  {codes}"
        )
    lines.append(
        f"deadline {result['open_loop'][0]['deadline_s']} s; load {result['machine']['load_1min']:.2f}"
    )
    return "\n".join(lines)


def _run_bench(args: argparse.Namespace) -> int:
    from router_ml.bench.run import BenchConfig, bench, overload_bench

    if not args.data.is_file():
        raise DataError(
            "no evaluation log here to take prompts from; pass one with --data FILE (the bundled "
            "one is only in a source checkout)",
            path=args.data,
        )
    config = BenchConfig(
        model=args.model,
        concurrency=tuple(args.concurrency),
        requests=args.requests,
        naive_requests=args.naive_requests,
        data=args.data,
        backend=args.backend,
        workers=args.workers,
        open_loop=tuple(args.open_loop),
        open_loop_size=args.size,
        deadline=args.deadline,
        duration=args.duration,
        startup_timeout=args.startup_timeout,
    )
    if config.open_loop:
        result = overload_bench(config)
        print(json.dumps(result, indent=2) if args.json else _open_loop_table(result))
    else:
        result = bench(config)
        print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0
