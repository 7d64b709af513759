"""Route validated inputs through one router: check, score on the worker, decide; on deadline."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router_ml.errors import InvalidRequestError
from router_ml.routing.decision import RouteDecision
from router_ml.routing.router import Router
from router_ml.serving.batching import EmbeddingWorker
from router_ml.serving.convert import RouteInput
from router_ml.serving.decision_cache import DecisionCache, decision_key
from router_ml.serving.status import DeadlinePassedError

NO_DEADLINE_BEYOND = 86_400.0


@dataclass(frozen=True)
class Deadline:
    """A client's deadline as a ``time.monotonic()`` value; None when the client set none."""

    at: float | None

    @classmethod
    def after(cls, remaining: float | None) -> Deadline:
        """From ``ServicerContext.time_remaining()``; grpc reports "no deadline" as None or huge."""
        if remaining is None or remaining > NO_DEADLINE_BEYOND:
            return cls(None)
        return cls(time.monotonic() + remaining)

    def remaining(self, stage: str) -> float | None:
        """Seconds left, or :class:`DeadlinePassedError` naming ``stage`` if none are."""
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlinePassedError(f"deadline passed {stage}")
        return left


def _checks(router: Router, items: Sequence[RouteInput]) -> list[tuple[float, np.ndarray]]:
    checks = []
    for item in items:
        try:
            checks.append(
                router.check_request([item.text], item.min_confidence, item.allowed_models)
            )
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"{item.label}: {exc}" if item.label else str(exc)) from None
    return checks


def _outcomes(
    router: Router, worker: EmbeddingWorker, texts: list[str], deadline: Deadline
) -> tuple[np.ndarray, np.ndarray]:
    remaining = deadline.remaining("before encoding")
    future = worker.submit(router, texts, deadline.at)
    try:
        proba, value = future.result(timeout=remaining)
    except TimeoutError:
        future.cancel()
        raise DeadlinePassedError("deadline passed while waiting for the encoder") from None
    deadline.remaining("during encoding")
    return proba, value


def _decide(
    router: Router,
    items: Sequence[RouteInput],
    checks: list[tuple[float, np.ndarray]],
    outcomes: tuple[np.ndarray, np.ndarray],
) -> list[RouteDecision]:
    proba, value = outcomes
    costs = router.estimate_costs([item.cost_text for item in items])
    groups: dict[tuple[float, bytes], list[int]] = defaultdict(list)
    for i, (knob, allowed) in enumerate(checks):
        groups[(knob, allowed.tobytes())].append(i)
    decisions: list[RouteDecision | None] = [None] * len(items)
    for rows in groups.values():
        knob, allowed = checks[rows[0]]
        chosen = router.choose(proba[rows], value[rows], costs[rows], knob, allowed)
        for i, decision in zip(rows, chosen, strict=True):
            decisions[i] = decision
    return decisions


def route_items(
    router: Router,
    worker: EmbeddingWorker,
    items: Sequence[RouteInput],
    deadline: Deadline,
    cache: DecisionCache | None = None,
) -> list[RouteDecision]:
    """Decisions for ``items``, in order, all from ``router``; one encoder call for all of them.

    Items whose decision ``cache`` holds skip the encoder; the others are added to it.

    Raises
    ------
    InvalidRequestError
        For unknown allowed models or a bad min_confidence (naming the item in a batch).
    DeadlinePassedError
        When the deadline passes before or during encoding; no work is started after it.
    """
    checks = _checks(router, items)
    keys = [
        decision_key(item.text, item.cost_text, knob, allowed)
        for item, (knob, allowed) in zip(items, checks, strict=True)
    ]
    found = [cache.get(router.version, key) if cache is not None else None for key in keys]
    todo = [i for i, decision in enumerate(found) if decision is None]
    if todo:
        outcomes = _outcomes(router, worker, [items[i].text for i in todo], deadline)
        fresh = _decide(router, [items[i] for i in todo], [checks[i] for i in todo], outcomes)
        for i, decision in zip(todo, fresh, strict=True):
            found[i] = decision
            if cache is not None:
                cache.put(decision, keys[i])
    return found
