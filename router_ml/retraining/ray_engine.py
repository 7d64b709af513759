"""``--engine ray``: read the history with Ray Data and embed prompts on a Ray actor pool.

Everything else (windowing, de-duplication, the data set, the embedding cache, training, the gate)
is the single-machine code: Ray reads rows that :func:`router_ml.data.evallog.parse_rows` checks,
and :class:`RayEmbedder` stands in for the encoder inside
:func:`router_ml.embedding.cache.embed_prompts`, so only prompts missing from the cache are sent.

Each actor loads the encoder once and checks its weights against the driver's, so a worker with
another encoder cannot poison the cache. On a cluster (``--ray-address``) every worker needs
router-ml and the encoder installed (the same image as the job).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from router_ml.data.evallog import Outcome, ScoreScale, parse_rows
from router_ml.embedding.encoder import Encoder
from router_ml.errors import ConfigError, DataError, EncoderError

logger = logging.getLogger(__name__)

INSTALL_HINT = "--engine ray needs Ray Data: pip install 'router-ml[ray]'"
#: Prompts per ``map_batches`` call of an actor.
BATCH_SIZE = 256
#: CSV columns read as text, as the single-machine reader does (Arrow would guess numbers).
CSV_TEXT_COLUMNS = ("prompt_id", "sample_id", "prompt", "model", "task", "eval_name", "split")


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str | None, *, show_progress: bool = False) -> Iterator[None]:
    """Connect to the Ray cluster at ``address`` (None: ``$RAY_ADDRESS`` or a new local instance).

    A session already initialised by the caller is used as it is and left running.
    """
    ray = _ray()
    owned = not ray.is_initialized()
    if owned:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = show_progress
    context.execution_options.preserve_order = True
    try:
        yield
    finally:
        if owned:
            ray.shutdown()


def _dataset(path: Path) -> Any:
    ray = _ray()
    name = path.name.lower()
    if name.endswith(".parquet"):
        return ray.data.read_parquet(str(path), file_extensions=None)
    if name.endswith((".csv", ".csv.gz")):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        options = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in CSV_TEXT_COLUMNS}, strings_can_be_null=True
        )
        return ray.data.read_csv(str(path), file_extensions=None, convert_options=options)
    return ray.data.read_json(str(path), file_extensions=None)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows numbered from the first data line (a CSV's line 2), in file order."""
    number = 2 if ".csv" in path.name.lower() else 1
    for batch in _dataset(path).iter_batches(batch_format="pyarrow", batch_size=4096):
        for row in batch.to_pylist():
            yield number, row
            number += 1


def _cause(exc: BaseException) -> str:
    """The first line of the error a Ray task raised (Ray wraps it in a long traceback)."""
    cause = getattr(exc, "cause", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def read_with_ray(path: Path, scale: ScoreScale) -> list[Outcome]:
    """Read one log with Ray Data and check every row as the single-machine reader does.

    Rows are numbered by their position, which is their line in a log without blank lines or
    quoted line breaks. Arrow's readers need one type per column within a file (a ``timestamp``
    column of ISO strings, or of epoch seconds, not both).

    Raises
    ------
    DataError
        When Ray cannot read the file, or a row has a bad field.
    """
    ray = _ray()
    try:
        return parse_rows(path, _rows(path), scale=scale)
    except ray.exceptions.RayError as exc:
        raise DataError(f"cannot read with Ray Data: {_cause(exc)}", path=path) from exc


class _EncoderActor:
    """One Ray actor's encoder, loaded once and checked against the driver's weights."""

    def __init__(self, spec: str, max_seq_length: int | None, weights_sha256: str) -> None:
        self.encoder = Encoder(spec, max_seq_length=max_seq_length)
        if self.encoder.identity.weights_sha256 != weights_sha256:
            raise EncoderError(
                f"the encoder at {self.encoder.folder} on this Ray worker differs from the driver's "
                f"(sha256 {weights_sha256[:12]}...)"
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(p) for p in batch["prompt"]])
        return {"row": batch["row"], "vector": vectors}


class RayEmbedder:
    """The :class:`Encoder` interface that :func:`embed_prompts` uses, run on a Ray actor pool.

    Parameters
    ----------
    encoder : the driver's encoder; actors load the same one (by its source) and check its weights.
    batch_size : prompts per actor call.
    """

    def __init__(self, encoder: Encoder, batch_size: int = BATCH_SIZE) -> None:
        self.encoder = encoder
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    def _actors(self, n_texts: int) -> int:
        cpus = int(_ray().cluster_resources().get("CPU", 1))
        return max(1, min(cpus, math.ceil(n_texts / self.batch_size)))

    def encode(self, texts: list[str], *, show_progress_bar: bool = False) -> np.ndarray:
        """Embed ``texts`` on the actor pool, in order, as float32 rows of unit length."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return vectors
        ray = _ray()
        identity = self.encoder.identity
        items = [{"row": i, "prompt": text} for i, text in enumerate(texts)]
        embedded = ray.data.from_items(items).map_batches(
            _EncoderActor,
            fn_constructor_kwargs={
                "spec": self.encoder.source,
                "max_seq_length": identity.max_seq_length,
                "weights_sha256": identity.weights_sha256,
            },
            batch_size=self.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self._actors(len(texts))),
            num_cpus=1,
        )
        try:
            for batch in embedded.iter_batches(batch_format="numpy", batch_size=None):
                vectors[batch["row"]] = batch["vector"]
        except ray.exceptions.RayError as exc:
            raise EncoderError(f"embedding on Ray failed: {_cause(exc)}") from exc
        logger.info("embedded %d prompts on Ray", len(texts))
        return vectors
