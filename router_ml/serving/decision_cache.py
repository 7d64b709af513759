"""A bounded LRU of recent decisions, keyed by prompt hash, router version and request knobs."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from router_ml.routing.decision import RouteDecision

Key = tuple[bytes, float, bytes]


def decision_key(text: str, cost_text: str, min_confidence: float, allowed: np.ndarray) -> Key:
    """What a decision depends on besides the version: the texts, the knob, the allowed models."""
    digest = hashlib.blake2b(text.encode(), digest_size=16)
    digest.update(b"\x00" + cost_text.encode())
    return digest.digest(), min_confidence, allowed.tobytes()


class DecisionCache:
    """The last ``size`` decisions of one router version; a new version empties it.

    Parameters
    ----------
    size : decisions kept (0 keeps none).
    hit, miss : called on every hit and miss (for metrics).
    """

    def __init__(self, size: int, hit: Callable[[], None], miss: Callable[[], None]) -> None:
        self.size = size
        self.hit = hit
        self.miss = miss
        self._version: str | None = None
        self._decisions: OrderedDict[Key, RouteDecision] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str, key: Key) -> RouteDecision | None:
        """The cached decision of ``version`` for ``key``, or None."""
        with self._lock:
            if version != self._version:
                self._version = version
                self._decisions.clear()
            decision = self._decisions.get(key)
            if decision is not None:
                self._decisions.move_to_end(key)
        (self.hit if decision is not None else self.miss)()
        return decision

    def put(self, decision: RouteDecision, key: Key) -> None:
        """Remember ``decision`` (dropping the least recently used beyond ``size``)."""
        with self._lock:
            if self.size == 0 or decision.router_version != self._version:
                return
            self._decisions[key] = decision
            self._decisions.move_to_end(key)
            if len(self._decisions) > self.size:
                self._decisions.popitem(last=False)

    def __len__(self) -> int:
        return len(self._decisions)
