"""``router-ml report``: a trained version + evaluation logs -> figures -> a report folder."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import RoutingDataset, build_dataset
from router_ml.data.evallog import Layout, Outcome, ScoreScale, read_logs
from router_ml.data.splits import prompt_hash
from router_ml.embedding.cache import EmbeddingCache, default_cache_dir, embed_prompts
from router_ml.errors import ArtifactError, ConfigError, DataError
from router_ml.report.compute import RoutingReport, check_resampling, compute_report
from router_ml.report.page import render_html
from router_ml.report.plots import CAPTIONS, render_figures
from router_ml.report.render import ReportSource, render_json
from router_ml.routing.router import Router

logger = logging.getLogger(__name__)

REPORT_JSON = "report.json"


@dataclass(frozen=True)
class ReportConfig:
    """Everything ``router-ml report`` needs; the CLI flags map one to one onto these fields."""

    model: Path
    data: tuple[Path, ...]
    catalog: Path
    out: Path
    allow_train_overlap: bool = False
    layout: Layout = "auto"
    cache_dir: Path | None = None
    n_bootstrap: int = 1000
    seed: int = 0
    show_progress: bool = True


@dataclass(frozen=True)
class ReportResult:
    """What a report run wrote."""

    out: Path
    report: RoutingReport
    source: ReportSource
    files: tuple[str, ...]
    newly_embedded: int


def _check_out(out: Path) -> None:
    if out.exists() and not (out.is_dir() and _replaceable(out)):
        raise ConfigError(
            f"{out}: exists and is not a previous report (no {REPORT_JSON}); "
            "choose another --out or remove it"
        )


def _replaceable(folder: Path) -> bool:
    return (folder / REPORT_JSON).is_file() or not any(folder.iterdir())


def _routable(outcomes: list[Outcome], router: Router) -> tuple[list[Outcome], list[str]]:
    """The outcomes of models ``router`` routes to, and the log's other models (a model added to
    the evaluations since this version was trained): those are left out of every figure."""
    known = set(router.models)
    ignored = sorted({o.model for o in outcomes} - known)
    if ignored:
        logger.warning(
            "scoring only router version %s's models: the log's %s left out (not routed to)",
            router.version,
            ", ".join(ignored),
        )
    return [o for o in outcomes if o.model in known], ignored


def _check_models(dataset: RoutingDataset, router: Router) -> None:
    missing = sorted(set(router.models) - set(dataset.models))
    if missing:
        raise DataError(
            f"the evaluation log has no outcomes of {', '.join(missing)}, which router version "
            f"{router.version} routes to ({', '.join(router.models)}): its choices cannot be scored"
        )


def _count_overlap(dataset: RoutingDataset, router: Router, allow: bool) -> int:
    trained = router.training_prompt_hashes()
    overlap = sum(prompt_hash(p) in trained for p in dataset.prompts)
    if overlap and not allow:
        raise DataError(
            f"{overlap} of the {len(dataset)} prompts in the evaluation log were in router version "
            f"{router.version}'s training set; scoring them would flatter the router. Remove them, "
            "or pass --allow-train-overlap to score them anyway (the report counts them)"
        )
    return overlap


def _prior(router: Router, key: str) -> np.ndarray:
    """A per-model training figure of the manifest (the zero router's estimates)."""
    rates = router.manifest.get(key)
    if rates is None:
        raise ArtifactError(
            f"{router.folder}: the manifest has no {key} (the zero router's prior); "
            "retrain the router with this version of router-ml"
        )
    return np.array([rates[m] for m in router.models], dtype=np.float64)


def score_router(
    router: Router, dataset: RoutingDataset, X: np.ndarray, n_bootstrap: int, seed: int
) -> RoutingReport:
    """Compute the report of ``router`` on ``dataset`` (prompts embedded as ``X``).

    Routes decide with the costs ``router`` estimates when serving (its cost rule and catalog
    snapshot); the logged costs only score them. The zero router weighs the training mean scores
    when the router weighs expected scores.
    """
    proba, expected = router.outcome_estimates(X)
    graded = router.policy.value == "expected_score"
    return compute_report(
        replace(dataset, estimated_costs=router.estimate_costs(dataset.cost_texts)),
        proba,
        router.label_classifier.predict(X).astype(int),
        _prior(router, "train_pass_rates"),
        router.threshold,
        router.default_min_confidence,
        policy=router.policy,
        n_bootstrap=n_bootstrap,
        seed=seed,
        expected_score=expected,
        prior_mean_scores=_prior(router, "train_mean_scores") if graded else None,
    )


def _write_folder(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a fresh hidden folder beside ``out``, then rename it into place.

    The folder is made with ``mkdir`` (the umask's mode, as ``mkdir REPORT_DIR`` would give),
    not ``mkdtemp``, whose private 0700 would make a report unreadable to whoever serves it.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.parent / f".{out.name}.{uuid.uuid4().hex}"
    staged.mkdir()
    try:
        for name, content in files.items():
            (staged / name).write_bytes(content)
        _check_out(out)
        if out.exists():
            retired = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, retired)
            os.replace(staged, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staged, out)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)


def make_report(config: ReportConfig) -> ReportResult:
    """Score evaluation logs with a trained version and write the report folder.

    Raises
    ------
    DataError
        On a bad log or catalog, a log lacking one of the router's models, or prompts the router was
        trained on (unless ``allow_train_overlap``).
    ConfigError
        When ``out`` exists and is not a previous report, or ``n_bootstrap`` < 1.
    """
    check_resampling(config.n_bootstrap)  # before the model loads and the prompts are embedded
    _check_out(config.out)
    router = Router.load(config.model, backend="auto")  # the fp32 export, when it has one
    outcomes, ignored = _routable(
        read_logs(
            list(config.data),
            layout=config.layout,
            scale=ScoreScale(**router.manifest["score_scale"]),
        ),
        router,
    )
    dataset = build_dataset(outcomes, load_catalog(config.catalog), router.cost_rule)
    _check_models(dataset, router)
    overlap = _count_overlap(dataset, router, config.allow_train_overlap)
    cache = EmbeddingCache(
        config.cache_dir or default_cache_dir(), router.encoder.identity.cache_key
    )
    X, newly = embed_prompts(
        dataset.prompts, router.encoder, cache, show_progress_bar=config.show_progress
    )
    report = score_router(router, dataset, X, config.n_bootstrap, config.seed)
    source = ReportSource(
        router_version=router.version,
        router_folder=str(router.folder),
        encoder=str(router.manifest["encoder"]["name"]),
        data=[str(p) for p in config.data],
        catalog=str(config.catalog),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        n_train_overlap=overlap,
        skipped_incomplete=dataset.skipped_incomplete,
        ignored_models=ignored,
    )
    figures = render_figures(report)
    files = {
        REPORT_JSON: render_json(report, source),
        "report.html": render_html(report, source, figures, CAPTIONS),
        **figures,
    }
    _write_folder(config.out, files)
    logger.info("wrote %s (%d files)", config.out, len(files))
    return ReportResult(config.out, report, source, tuple(files), newly)
