"""Open-loop load: requests sent at a fixed rate with a deadline, whatever the server's pace.

A closed-loop bench (N requests in flight) slows down with the server and never overloads it; a
gateway does not wait. Here each request leaves at its scheduled time, so a rate above capacity
shows what the server does with the excess: answer in time, refuse at once, or let it expire.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import numpy as np

from router_ml.errors import RouterMLError

OK = "OK"


async def _send(stub, request, deadline: float) -> tuple[str, float]:
    import grpc

    started = time.perf_counter()
    try:
        await stub.Route(request, timeout=deadline)
        code = OK
    except grpc.RpcError as exc:
        code = exc.code().name
    return code, time.perf_counter() - started


async def _open_loop(
    target: str, prompts: list[str], rate: float, deadline: float
) -> list[tuple[str, float]]:
    import grpc

    from router_ml.client import route_request
    from router_ml.v1 import router_pb2, router_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        await stub.GetModelInfo(router_pb2.GetModelInfoRequest(), timeout=30)
        began, calls = time.perf_counter(), []
        for i, prompt in enumerate(prompts):
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            calls.append(asyncio.create_task(_send(stub, route_request(prompt), deadline)))
        return await asyncio.gather(*calls)


def _median_ms(seconds: list[float]) -> float | None:
    return round(1000 * float(np.median(seconds)), 1) if seconds else None


def open_loop(target: str, prompts: list[str], rate: float, deadline: float) -> dict:
    """Send every one of ``prompts`` (distinct, so no cache hits) at ``rate`` per second, each
    with ``deadline`` seconds; count the answers by status code.

    ``answered_per_s`` is the in-time answers over the sending time; ``p50_answered_ms`` and
    ``p50_refused_ms`` are the medians of the answered and of the RESOURCE_EXHAUSTED calls.
    """
    if rate <= 0 or not prompts:
        raise RouterMLError(f"an open-loop run needs a rate > 0 and prompts, got {rate}")
    results = asyncio.run(_open_loop(target, prompts, rate, deadline))
    codes = Counter(code for code, _ in results)
    answered = [s for code, s in results if code == OK]
    refused = [s for code, s in results if code == "RESOURCE_EXHAUSTED"]
    return {
        "rate": rate,
        "deadline_s": deadline,
        "sent": len(results),
        "codes": dict(codes),
        "answered_per_s": round(len(answered) * rate / len(prompts), 1),
        "p50_answered_ms": _median_ms(answered),
        "p50_refused_ms": _median_ms(refused),
    }
