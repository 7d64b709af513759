"""``router-ml serve`` and ``router-ml route``: parse flags, then call :func:`serve` or the client."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from router_ml.cli_options import HelpFormatter, number_in
from router_ml.embedding.backends import BACKENDS
from router_ml.errors import RouterMLError
from router_ml.serving.config import (
    DEFAULT_METRICS_PORT,
    DEFAULT_PORT,
    SPARE_RPC_THREADS,
    ServerConfig,
    address,
)

EXAMPLE_PROMPT = "What is the capital of France?"
ANY_HOST = ("0.0.0.0", "::", "")


def add_serve(commands: argparse._SubParsersAction) -> None:
    """Register ``router-ml serve``."""
    defaults = ServerConfig(model=Path("models"))
    parser = commands.add_parser(
        "serve",
        help="serve a router over gRPC (health, reflection, metrics, hot reload)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="DIR",
        help="registry folder (serves DIR/current and follows it) or one version folder",
    )
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    parser.add_argument(
        "--port",
        type=number_in(0, 65535, kind=int),
        default=DEFAULT_PORT,
        help="gRPC port (0: any free)",
    )
    parser.add_argument(
        "--metrics-port",
        type=number_in(0, 65535, kind=int),
        default=DEFAULT_METRICS_PORT,
        help="Prometheus /metrics port on --host (0: any free)",
    )
    parser.add_argument(
        "--grace",
        type=number_in(0, above=True),
        default=defaults.grace,
        help="seconds in-flight requests get to finish on SIGTERM",
    )
    parser.add_argument(
        "--drain-delay",
        type=number_in(0),
        default=defaults.drain_delay,
        metavar="S",
        help="seconds to keep answering after SIGTERM with health NOT_SERVING, so load balancers "
        "take the server out before it refuses calls (Kubernetes: a few seconds)",
    )
    parser.add_argument(
        "--max-prompt-bytes",
        type=number_in(1, kind=int),
        default=defaults.max_prompt_bytes,
        help="largest prompt (UTF-8 bytes, all message contents together) accepted",
    )
    parser.add_argument(
        "--max-message-bytes",
        type=number_in(1, kind=int),
        default=defaults.max_message_bytes,
        help="largest gRPC request accepted (larger: RESOURCE_EXHAUSTED)",
    )
    parser.add_argument(
        "--max-batch",
        type=number_in(1, kind=int),
        default=defaults.max_batch,
        help="most requests in one RouteBatch",
    )
    parser.add_argument(
        "--workers",
        type=number_in(1, kind=int),
        default=1,
        metavar="N",
        help="server processes sharing the port (SO_REUSEPORT), each with cores/N encoder threads",
    )
    parser.add_argument(
        "--rpc-threads",
        type=number_in(SPARE_RPC_THREADS + 1, kind=int),
        default=defaults.rpc_threads,
        help="gRPC handler threads per process",
    )
    parser.add_argument(
        "--poll-interval",
        type=number_in(0, above=True),
        default=defaults.poll_interval,
        help="seconds between checks of where DIR/current points",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=defaults.backend,
        help="encoder: the version's fp32 ONNX export (exact, no torch), its int8 quantization "
        "(faster, 93-94%% identical decisions) or sentence-transformers",
    )
    parser.add_argument(
        "--encoder-threads",
        type=number_in(1, kind=int),
        default=None,
        metavar="N",
        help="onnxruntime threads (default: one per core)",
    )
    parser.add_argument(
        "--decision-cache",
        type=number_in(0, kind=int),
        default=defaults.decision_cache,
        metavar="N",
        help="recent decisions kept per version (0: none)",
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with other server processes (SO_REUSEPORT)",
    )
    parser.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from router_ml.serving.supervisor import serve_workers

    config = ServerConfig(
        model=args.model,
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        grace=args.grace,
        drain_delay=args.drain_delay,
        max_prompt_bytes=args.max_prompt_bytes,
        max_message_bytes=args.max_message_bytes,
        max_batch=args.max_batch,
        rpc_threads=args.rpc_threads,
        poll_interval=args.poll_interval,
        backend=args.backend,
        encoder_threads=args.encoder_threads,
        decision_cache=args.decision_cache,
        reuse_port=args.reuse_port,
    )
    return serve_workers(config, args.workers, on_ready=_print_ready)


def ready_message(host: str, port: int, metrics_port: int | None, version: str) -> str:
    """What ``serve`` prints once ready: where it listens and two calls to paste."""
    local = "127.0.0.1" if host in ANY_HOST else host
    target = address(local, port)
    request = json.dumps({"prompt": EXAMPLE_PROMPT})
    return "\n".join(
        [
            f"router-ml is serving version {version} on {address(host, port)} "
            f"(metrics: http://{address(local, metrics_port or 0)}/metrics)",
            "Try it:",
            f'  router-ml route "{EXAMPLE_PROMPT}" --target {target}',
            f"  grpcurl -plaintext -d '{request}' {target} router_ml.v1.Router/Route",
        ]
    )


def _print_ready(server) -> None:
    print(
        ready_message(server.config.host, server.port, server.metrics_port, server.router.version),
        flush=True,
    )


def add_route(commands: argparse._SubParsersAction) -> None:
    """Register ``router-ml route``."""
    parser = commands.add_parser(
        "route",
        help="ask a running server which model should answer a prompt",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("prompt", metavar="PROMPT", help="the prompt to route")
    parser.add_argument(
        "--target",
        default=address("127.0.0.1", DEFAULT_PORT),
        metavar="HOST:PORT",
        help="the server",
    )
    parser.add_argument(
        "--min-confidence",
        type=number_in(0, 1),
        default=None,
        help="cost/quality knob in [0, 1] (default: the router version's)",
    )
    parser.add_argument(
        "--allowed-model",
        action="append",
        default=[],
        metavar="MODEL",
        dest="allowed_models",
        help="only route to this model; repeat for several (default: any)",
    )
    parser.add_argument(
        "--timeout", type=number_in(0, above=True), default=5.0, help="deadline in seconds"
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.set_defaults(run=_run_route)


def _run_route(args: argparse.Namespace) -> int:
    import grpc

    from router_ml.client import RouterClient

    with RouterClient(args.target, timeout=args.timeout) as client:
        try:
            result = client.route(
                args.prompt, min_confidence=args.min_confidence, allowed_models=args.allowed_models
            )
        except grpc.RpcError as exc:
            raise RouterMLError(f"{args.target}: {exc.code().name}: {exc.details()}") from None
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    print(
        f"{result.model}  confidence {result.confidence:.3f}  ({result.reason}, "
        f"min_confidence {result.min_confidence:.2f}, version {result.router_version})"
    )
    for alternative in result.alternatives:
        print(
            f"  then {alternative.model}: pass probability {alternative.pass_probability:.3f}, "
            f"estimated ${alternative.estimated_cost_usd:.6f}"
        )
    return 0
