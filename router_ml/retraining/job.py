"""``router-ml retrain``: history -> challenger -> gate against the champion -> promote or keep.

One run, under the registry's lock:

1. Remove leftovers of runs that died (staging folders, link temp files).
2. Load the champion (``current``), if any, verifying every file. The challenger inherits its
   training settings (threshold, score scale, policy, cost rule, seed) and its encoder, so the two
   differ only in what they learned from.
3. Read the history (:mod:`router_ml.retraining.history`), build the data set and its held-out
   split (the latest prompts by time), embed the prompts not in the embedding cache.
4. Fit the challenger and write it into a staging folder; load it back (hashes verified).
5. Score both on the held-out prompts neither was trained on (:mod:`router_ml.retraining.gate`),
   measure drift, write ``decision.json`` and ``DECISION.md`` into the version, seal it with a
   ``gate`` manifest field, and publish it. ``current`` moves only if the gate passed.
6. Prune to the last ``keep`` versions (never ``current`` nor its rollback target).

A kill at any step leaves ``current`` and every published version as they were.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from router_ml.artifact.manifest import seal, write_json
from router_ml.artifact.registry import (
    GATE_FIELD,
    clean_leftovers,
    current_version,
    prune,
    publish,
    set_current,
    staging,
    writing_registry,
)
from router_ml.data.catalog import Catalog, load_catalog
from router_ml.data.costs import CostRule
from router_ml.data.dataset import RoutingDataset, build_dataset
from router_ml.data.evallog import Outcome, ScoreScale, read_log
from router_ml.data.splits import Split, prompt_hash
from router_ml.embedding.cache import EmbeddingCache, default_cache_dir, embed_prompts
from router_ml.embedding.encoder import Encoder
from router_ml.embedding.onnx_encoder import OnnxEncoder, exported_encoder
from router_ml.errors import ConfigError
from router_ml.retraining.drift import Drift, measure_drift
from router_ml.retraining.gate import FIRST_VERSION, gate_figures, judge
from router_ml.retraining.history import History, assemble_history, history_files
from router_ml.retraining.options import ENGINES, Engine
from router_ml.retraining.record import (
    RECORD_JSON,
    RECORD_MARKDOWN,
    Evidence,
    decision_markdown,
    decision_record,
)
from router_ml.routing.router import CATALOG_FILE, Router
from router_ml.training.pipeline import (
    FittedVersion,
    TrainConfig,
    check_config,
    fit_version,
    split_dataset,
    write_version,
)

if TYPE_CHECKING:
    from router_ml.retraining.ray_engine import RayEmbedder

logger = logging.getLogger(__name__)

#: Reads one log file into outcomes (with the score scale to normalise by).
Reader = Callable[[Path, ScoreScale], list[Outcome]]


@dataclass(frozen=True)
class RetrainConfig:
    """Everything ``router-ml retrain`` needs; the CLI flags map one to one onto these fields."""

    registry: Path
    history: Path
    window_days: float = 30.0
    catalog: Path | None = None
    tolerance: float = 0.01
    keep: int = 10
    engine: Engine = "local"
    ray_address: str | None = None
    cache_dir: Path | None = None
    show_progress: bool = True


@dataclass(frozen=True)
class RetrainResult:
    """What a retrain produced: the new version, whether it is now ``current``, its record."""

    version_dir: Path
    promoted: bool
    record: dict[str, Any]
    pruned: list[str]


def _check(config: RetrainConfig) -> None:
    checks = [
        ("window_days", config.window_days > 0, "a number > 0"),
        ("tolerance", config.tolerance >= 0, "a number >= 0"),
        ("keep", config.keep >= 1, "an integer >= 1"),
        ("engine", config.engine in ENGINES, f"one of {', '.join(ENGINES)}"),
    ]
    for name, ok, expected in checks:
        if not ok:
            raise ConfigError(
                f"The '{name}' parameter must be {expected}. Got {getattr(config, name)!r} instead."
            )


def _champion(registry: Path) -> Router | None:
    return Router.load(registry) if current_version(registry) else None


def _catalog_path(config: RetrainConfig, champion: Router | None) -> Path:
    if config.catalog is not None:
        return config.catalog
    if champion is None:
        raise ConfigError(
            f"{config.registry} has no current version to take the catalog from; pass --catalog"
        )
    return champion.folder / CATALOG_FILE


def _train_config(
    config: RetrainConfig, champion: Router | None, catalog: Path, files: list[Path]
) -> TrainConfig:
    """Training settings: the champion's, so that only the data differs; defaults without one."""
    base = TrainConfig(
        data=tuple(files),
        catalog=catalog,
        out=config.registry,
        cache_dir=config.cache_dir,
        show_progress=config.show_progress,
    )
    if champion is None:
        return base
    m = champion.manifest
    return replace(
        base,
        threshold=float(m["threshold"]),
        scale=ScoreScale(**m["score_scale"]),
        unsolvable=m["unsolvable_policy"],
        policy=m["policy"]["name"],
        cost_rule=CostRule(**m["cost_rule"]),
        seed=int(m["seed"]),
    )


def _read_local(path: Path, scale: ScoreScale) -> list[Outcome]:
    return read_log(path, scale=scale)


@contextlib.contextmanager
def _engine(config: RetrainConfig, encoder: Encoder) -> Iterator[tuple[Reader, RayEmbedder | None]]:
    """The engine's log reader, and its embedder on Ray actors that load ``encoder`` (None
    locally: the caller embeds with the encoder's ONNX export)."""
    if config.engine == "local":
        yield _read_local, None
        return
    from router_ml.retraining.ray_engine import RayEmbedder, ray_session, read_with_ray

    with ray_session(config.ray_address, show_progress=config.show_progress):
        yield read_with_ray, RayEmbedder(encoder)


def _gate_positions(split: Split, dataset: RoutingDataset, trained: set[str]) -> np.ndarray:
    """Held-out prompts the champion was not trained on either."""
    return np.array(
        [i for i in split.test if prompt_hash(dataset.prompts[i]) not in trained], dtype=int
    )


def _drift(
    dataset: RoutingDataset, X: np.ndarray, trained: set[str], cache: EmbeddingCache
) -> Drift | None:
    new = [i for i, p in enumerate(dataset.prompts) if prompt_hash(p) not in trained]
    found = cache.get(sorted(trained))
    if len(found) < len(trained):
        logger.warning(
            "drift: %d of the champion's %d training prompts are not in the embedding cache",
            len(trained) - len(found),
            len(trained),
        )
    reference = np.stack(list(found.values())) if found else np.zeros((0, X.shape[1]))
    return measure_drift(X[new], reference)


def _seal_decision(staged: Path, manifest: dict[str, Any], record: dict[str, Any]) -> None:
    write_json(staged / RECORD_JSON, record)
    (staged / RECORD_MARKDOWN).write_text(decision_markdown(record), encoding="utf-8")
    gate = {"decision": record["decision"], "reason": record["reason"], "record": RECORD_JSON}
    seal(staged, {**manifest, GATE_FIELD: gate})


@dataclass(frozen=True)
class _Prepared:
    """The challenger's inputs: history, data set, split, embeddings, and the encoder's export."""

    history: History
    dataset: RoutingDataset
    split: Split
    X: np.ndarray
    newly_embedded: int
    train_config: TrainConfig
    catalog: Catalog
    export: OnnxEncoder


def _prepare(
    config: RetrainConfig,
    files: list[Path],
    champion: Router | None,
    encoder: Encoder,
    cache: EmbeddingCache,
    exports: contextlib.ExitStack,
) -> _Prepared:
    """Check the flags and catalog, read the window, then export ``encoder`` (kept open on
    ``exports`` for the version's files) and embed; so bad input fails before the export."""
    catalog_path = _catalog_path(config, champion)
    catalog = load_catalog(catalog_path)
    train_config = _train_config(config, champion, catalog_path, files)
    check_config(train_config)
    with _engine(config, encoder) as (read, ray_embedder):
        per_file = [(path, read(path, train_config.scale)) for path in files]
        history = assemble_history(
            per_file, time.time(), config.window_days, catalog, train_config.threshold
        )
        dataset = build_dataset(history.outcomes, catalog, train_config.cost_rule)
        split = split_dataset(dataset, train_config)
        export = exports.enter_context(exported_encoder(encoder))
        embedder = export if ray_embedder is None else ray_embedder
        X, newly = embed_prompts(
            dataset.prompts, embedder, cache, show_progress_bar=config.show_progress
        )
    return _Prepared(history, dataset, split, X, newly, train_config, catalog, export)


def _evidence(
    config: RetrainConfig,
    prep: _Prepared,
    champion: Router | None,
    challenger: Router,
    cache: EmbeddingCache,
    version: str,
) -> Evidence:
    """Score both routers on the held-out prompts neither was trained on, and decide."""
    trained = champion.training_prompt_hashes() if champion else set()
    rows = _gate_positions(prep.split, prep.dataset, trained)
    gate, X_gate = prep.dataset.subset(rows), prep.X[rows]
    champion_figures, challenger_figures = (
        gate_figures(router, gate, X_gate) if router and len(gate) else None
        for router in (champion, challenger)
    )
    verdict = (
        judge(champion_figures, challenger_figures, len(gate), config.tolerance)
        if champion
        else FIRST_VERSION
    )
    return Evidence(
        version=version,
        verdict=verdict,
        threshold=prep.train_config.threshold,
        tolerance=config.tolerance,
        window_days=config.window_days,
        engine=config.engine,
        history=prep.history,
        dataset=prep.dataset,
        split=prep.split,
        new_prompts=sum(prompt_hash(p) not in trained for p in prep.dataset.prompts),
        newly_embedded=prep.newly_embedded,
        gate=gate,
        gate_excluded=len(prep.split.test) - len(gate),
        champion=champion,
        champion_figures=champion_figures,
        challenger_figures=challenger_figures,
        catalog=prep.catalog,
        drift=_drift(prep.dataset, prep.X, trained, cache) if champion else None,
    )


def _publish_challenger(
    config: RetrainConfig,
    prep: _Prepared,
    champion: Router | None,
    fitted: FittedVersion,
    cache: EmbeddingCache,
) -> RetrainResult:
    """Stage the challenger, gate it against the champion, seal the decision and publish it;
    ``current`` moves only when it is promoted."""
    version = fitted.manifest["version"]
    with staging(config.registry) as staged:
        manifest = write_version(staged, fitted, prep.export)
        # the gate scores embeddings computed already: the lazy ONNX encoder just written is
        # never run, where torch would hash and load a second sentence-transformers model
        challenger = Router.load(staged, backend="onnx")
        evidence = _evidence(config, prep, champion, challenger, cache, version)
        record = decision_record(evidence)
        _seal_decision(staged, manifest, record)
        version_dir = publish(config.registry, staged, version)
    if evidence.verdict.promote:
        set_current(config.registry, version)
    logger.info("%s %s: %s", record["decision"], version, evidence.verdict.reason)
    return RetrainResult(version_dir, evidence.verdict.promote, record, [])


def _run(config: RetrainConfig) -> RetrainResult:
    files = history_files(config.history)
    champion = _champion(config.registry)
    encoder = champion.encoder if champion else Encoder()
    identity = encoder.identity
    cache = EmbeddingCache(config.cache_dir or default_cache_dir(), identity.cache_key)
    with contextlib.ExitStack() as exports:
        prep = _prepare(config, files, champion, encoder, cache, exports)
        fitted = fit_version(
            prep.train_config, prep.catalog, prep.dataset, prep.split, prep.X, identity
        )
        return _publish_challenger(config, prep, champion, fitted, cache)


def retrain(config: RetrainConfig) -> RetrainResult:
    """Train a challenger on the history's window and promote it only if it passes the gate.

    Raises
    ------
    RegistryLockedError
        When another retrain, promote or rollback holds the registry's lock.
    RouterMLError
        On bad history, catalog or parameters, or a champion that fails verification; the
        registry is left as it was.
    """
    _check(config)
    with writing_registry(config.registry):
        clean_leftovers(config.registry)
        result = _run(config)
        pruned = prune(config.registry, config.keep)
    return replace(result, pruned=pruned)
