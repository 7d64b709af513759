"""The router being served, and hot reload: follow ``current``, load, verify, warm up, then swap.

A request takes :attr:`ModelHolder.router` once and keeps that router to the end, so a swap never
affects requests in flight: they finish on the old version, later ones get the new.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from router_ml.artifact.registry import CURRENT, resolve_version, rollback_target
from router_ml.embedding.backends import Backend
from router_ml.errors import ArtifactError, RouterMLError
from router_ml.routing.router import Router
from router_ml.serving.metrics import ServingMetrics

logger = logging.getLogger(__name__)


def _unexpected(exc: BaseException) -> bool:
    """Not one of ours: a bug or an unforeseen artifact problem, worth a traceback."""
    return not isinstance(exc, RouterMLError)


def load_warm(folder: Path, backend: Backend = "torch", threads: int | None = None) -> Router:
    """Load a version (hashes verified first) with ``backend`` and run one prompt through it."""
    router = Router.load(folder, backend=backend, threads=threads)
    router.warm_up()
    return router


class ModelHolder:
    """Holds the active router and replaces it when the model path points somewhere new.

    Parameters
    ----------
    path : a registry folder (its ``current`` is followed) or one version folder.
    metrics : where the active version and reload results are recorded.
    poll_interval : seconds between checks of where ``path`` resolves to.
    on_ready : called once the first version is loaded and warm.
    backend : the encoder backend every version is loaded with.
    threads : onnxruntime intra-op threads (onnx backend).
    """

    def __init__(
        self,
        path: Path,
        metrics: ServingMetrics,
        poll_interval: float,
        on_ready: Callable[[Router], None],
        backend: Backend = "torch",
        threads: int | None = None,
    ) -> None:
        self.path = path
        self.backend = backend
        self.threads = threads
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.on_ready = on_ready
        self.router: Router | None = None
        self.startup_error: RouterMLError | None = None
        self.settled = threading.Event()
        self._rejected: Path | None = None
        self._wake = threading.Event()
        self._force = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="router-ml-reload", daemon=True)

    def start(self) -> None:
        """Load the first version in the background, then keep following ``path``."""
        self._thread.start()

    def stop(self) -> None:
        """Stop following ``path`` (a load in progress finishes first)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def request_reload(self) -> None:
        """Check now (SIGHUP), retrying even a version that was rejected before."""
        self._force = True
        self._wake.set()

    def _run(self) -> None:
        try:
            router, rejected = self._first_router()
            self._swap(router)
            if rejected is not None:
                self._rejected = rejected
                self.metrics.current_rejected.set(1)
        except Exception as exc:
            logger.error("cannot serve %s: %s", self.path, exc, exc_info=_unexpected(exc))
            self.startup_error = (
                ArtifactError(f"{self.path}: cannot load: {type(exc).__name__}: {exc}")
                if _unexpected(exc)
                else exc
            )
            return
        finally:
            self.settled.set()
        self.on_ready(self.router)
        while not self._stopping.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            force, self._force = self._force, False
            if not self._stopping.is_set():
                self._check(force)

    def _first_router(self) -> tuple[Router, Path | None]:
        """The version ``path`` resolves to; if that fails to load and ``path`` is a registry, the
        newest older version that verifies (what ``rollback`` would pick), so that a restart with
        a broken ``current`` still serves, as a reload of one would. Returns the router and the
        rejected current version, if any: it is retried on SIGHUP or once ``current`` moves."""
        target = resolve_version(self.path)
        try:
            return load_warm(target, self.backend, self.threads), None
        except Exception as exc:
            older = rollback_target(self.path) if (self.path / CURRENT).is_symlink() else None
            if older is None:
                raise
            router = load_warm(self.path / older, self.backend, self.threads)
            self.metrics.reloads.labels(result="failure").inc()
            logger.error(
                "cannot serve current version %s (%s); serving %s, the newest older version "
                "that verifies, until current is fixed",
                target.name,
                exc,
                older,
                exc_info=_unexpected(exc),
            )
            return router, target

    def _check(self, force: bool) -> None:
        """Load and swap in the version ``path`` resolves to, if it is new and loads cleanly."""
        try:
            target = resolve_version(self.path)
        except Exception as exc:
            self._reject(self.path, exc, force)
            return
        if target == self.router.folder or (target == self._rejected and not force):
            return
        logger.info("loading new router version %s", target.name)
        try:
            router = load_warm(target, self.backend, self.threads)
        except Exception as exc:
            self._reject(target, exc, force)
            return
        self.metrics.reloads.labels(result="success").inc()
        self._swap(router)

    def _reject(self, target: Path, exc: Exception, force: bool) -> None:
        if target == self._rejected and not force:
            return
        self._rejected = target
        self.metrics.reloads.labels(result="failure").inc()
        self.metrics.current_rejected.set(1)
        logger.error(
            "rejected router version %s, still serving %s: %s",
            target,
            self.router.version,
            exc,
            exc_info=_unexpected(exc),
        )

    def _swap(self, router: Router) -> None:
        old, self.router = self.router, router
        self._rejected = None
        self.metrics.current_rejected.set(0)
        self.metrics.set_active(router.version, router.loaded_at)
        logger.info(
            "serving router version %s%s", router.version, f" (was {old.version})" if old else ""
        )
