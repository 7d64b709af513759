"""A consecutive-failure circuit breaker, used by the fail-open gateway clients (no gRPC here)."""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)


class CircuitBreaker:
    """Stops calling a failing dependency for a cool-down, then lets one probe call through.

    Closed, every call is allowed, and ``failures`` failures in a row open it. Open, no call is
    allowed for ``cooldown`` seconds; then one call (the probe) is, while the others still are
    not (half-open). The probe's success closes the breaker, its failure opens it for another
    cool-down. A probe that ends otherwise (:meth:`release`) lets the next call probe at once,
    and one that never reports is given up on after a cool-down, so the breaker never stays
    half-open for good. The lock is held only inside these methods, never across a call, so one
    breaker serves threads and asyncio tasks alike.

    Parameters
    ----------
    failures : consecutive failures that open the breaker; 0 never opens it.
    cooldown : seconds it stays open before a probe (> 0).
    name : what it guards, for the log ("router at host:port").
    """

    def __init__(self, failures: int, cooldown: float, name: str) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.name = name
        self._lock = threading.Lock()
        self._failed = 0
        self._opened_at: float | None = None
        self._probe_due = 0.0
        self._probing = False

    def allow(self) -> bool:
        """Whether to make the call: always while closed, else only as the one probe."""
        with self._lock:
            if self._opened_at is None:
                return True
            now = time.monotonic()
            if now < self._probe_due:
                return False
            self._probe_due, self._probing = now + self.cooldown, True
            return True

    def record_success(self) -> None:
        """An allowed call succeeded: reset the count; the probe's success closes the breaker."""
        with self._lock:
            self._failed = 0
            if self._opened_at is None or not self._probing:
                return
            outage = time.monotonic() - self._opened_at
            self._opened_at, self._probing = None, False
        logger.info("%s answered again; circuit closed after %.1f s open", self.name, outage)

    def record_failure(self, error: str) -> None:
        """An allowed call failed with ``error`` (named in the log): count it, or re-open after a
        failed probe. A call made before the breaker opened changes nothing while it is open."""
        if not self.failures:
            return
        with self._lock:
            now = time.monotonic()
            if self._opened_at is not None:
                if self._probing:
                    self._probe_due, self._probing = now + self.cooldown, False
                    logger.debug("%s: probe failed with %s; circuit open again", self.name, error)
                return
            self._failed += 1
            if self._failed < self.failures:
                return
            self._failed, self._opened_at, self._probe_due = 0, now, now + self.cooldown
        logger.warning(
            "%s: %d failed calls in a row (last: %s); circuit open: no calls for %g s, then one probe",
            self.name,
            self.failures,
            error,
            self.cooldown,
        )

    def release(self) -> None:
        """An allowed call ended with neither success nor failure: after a probe, the next call
        probes at once."""
        with self._lock:
            if self._probing:
                self._probe_due, self._probing = time.monotonic(), False
