"""``router-ml train``: evaluation logs -> labels -> embeddings -> fitted heads -> a new version."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from router_ml.artifact.manifest import library_versions, seal, sha256_file
from router_ml.artifact.registry import (
    check_unlocked,
    clean_leftovers,
    new_version_name,
    publish,
    set_current,
    staging,
    writing_registry,
)
from router_ml.data.catalog import Catalog, load_catalog
from router_ml.data.costs import CostRule
from router_ml.data.dataset import RoutingDataset, build_dataset
from router_ml.data.evallog import Layout, ScoreScale, read_logs
from router_ml.data.labels import DROPPED, UnsolvablePolicy, cheapest_passing_labels
from router_ml.data.splits import Split, holdout_split, prompt_hash, text_hash_split
from router_ml.embedding.cache import EmbeddingCache, default_cache_dir, embed_prompts
from router_ml.embedding.encoder import Encoder, EncoderIdentity
from router_ml.embedding.onnx_encoder import (
    OnnxEncoder,
    copy_export,
    exported_encoder,
)
from router_ml.errors import ConfigError, DataError
from router_ml.evaluation.metrics import (
    best_single_index,
    expected_calibration_error,
    pick_min_confidence,
    single_models,
    sweep,
)
from router_ml.routing.heads import PassProbabilityModel, fit_label_classifier
from router_ml.routing.policy import Policy, PolicyName
from router_ml.routing.router import (
    CATALOG_FILE,
    HEADS_FILE,
    LABEL_CLASSIFIER_FILE,
    PASS_MODEL_FILE,
    TRAINING_PROMPTS_FILE,
)
from router_ml.training.summary import HeldOutSummary, summarise_heldout

logger = logging.getLogger(__name__)

MIN_CONFIDENCE_RULE = (
    "cheapest point of the validation cost-quality curve (min_confidence 0..1, step 0.005) whose "
    "mean score is >= the best single model's validation mean score; if none, the highest-quality "
    "point"
)
MIN_PROMPTS_PER_SIDE = 5


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``router-ml train`` needs; the CLI flags map one to one onto these fields."""

    data: tuple[Path, ...]
    catalog: Path
    out: Path
    threshold: float = 1.0
    encoder: str | None = None
    seed: int = 0
    layout: Layout = "auto"
    scale: ScoreScale = field(default_factory=ScoreScale)
    unsolvable: UnsolvablePolicy = "cheapest"
    policy: PolicyName = "utility"
    cost_rule: CostRule = field(default_factory=CostRule)
    cache_dir: Path | None = None
    test_fraction: float = 0.2
    validation_fraction: float = 0.2
    max_seq_length: int | None = None
    show_progress: bool = True


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    version_dir: Path
    manifest: dict[str, Any]
    summary: HeldOutSummary
    newly_embedded: int


def check_config(config: TrainConfig) -> None:
    """Check the parameters of ``config``; raises ConfigError naming the one out of range."""
    if not 0.0 <= config.threshold <= 1.0:
        raise ConfigError(
            f"The 'threshold' parameter must be a float in [0, 1]. Got {config.threshold} instead."
        )
    for name in ("test_fraction", "validation_fraction"):
        value = getattr(config, name)
        if not 0.0 < value < 1.0:
            raise ConfigError(
                f"The '{name}' parameter must be a float in (0, 1). Got {value} instead."
            )


def split_dataset(dataset: RoutingDataset, config: TrainConfig) -> Split:
    """The held-out split of ``dataset``; raises DataError when either side is too small."""
    split = holdout_split(dataset, config.test_fraction, config.seed)
    if min(len(split.train), len(split.test)) < MIN_PROMPTS_PER_SIDE:
        raise DataError(
            f"too few prompts to train and hold out: {len(split.train)} train / {len(split.test)} test "
            f"of {len(dataset)} (by {split.method}); need at least {MIN_PROMPTS_PER_SIDE} on each side"
        )
    return split


def check_passing(train: RoutingDataset, threshold: float) -> None:
    """Raise DataError when no score of the training prompts reaches ``threshold``."""
    highest = float(train.scores.max())
    if highest < threshold:
        raise DataError(
            f"no score of the {len(train)} training prompts reaches the threshold {threshold:g} "
            f"(the highest is {highest:g}), so no model ever passes; choose a lower --threshold"
        )


def _fit_heads(X: np.ndarray, train: RoutingDataset, config: TrainConfig) -> tuple[Any, Any]:
    passes = train.passes(config.threshold)
    pass_model = PassProbabilityModel(verbose=config.show_progress).fit(X, passes, train.scores)
    labels = cheapest_passing_labels(train.scores, train.costs, config.threshold, config.unsolvable)
    keep = labels != DROPPED
    return pass_model, fit_label_classifier(X[keep], labels[keep])


def reference_cost(train: RoutingDataset) -> float:
    """The utility policy's cost scale: median estimated cost of a training prompt on its dearest
    model (the cost weight then applies to serving-time estimates, as it does when serving)."""
    return float(np.median(train.estimated_costs.max(axis=1)))


def _choose_min_confidence(
    X: np.ndarray, train: RoutingDataset, config: TrainConfig, policy: Policy
) -> dict[str, Any]:
    fit, val = text_hash_split(
        train.prompts, config.validation_fraction, salt=f"validation:{config.seed}"
    )
    if min(len(fit), len(val)) < MIN_PROMPTS_PER_SIDE:
        raise DataError(
            f"too few training prompts for a validation split: {len(fit)} fit / {len(val)} validation"
        )
    fitting = train.subset(fit)
    model = PassProbabilityModel(verbose=config.show_progress).fit(
        X[fit], fitting.passes(config.threshold), fitting.scores
    )
    held = train.subset(val)
    proba, expected = model.predict_proba_and_score(X[val])
    singles = single_models(held.scores, held.costs, config.threshold)
    target = singles[best_single_index(singles)].quality
    curve = sweep(
        proba,
        held.scores,
        held.costs,
        config.threshold,
        policy=policy,
        expected_score=expected,
        estimated_costs=held.estimated_costs,
    )
    chosen = pick_min_confidence(curve, target)
    point = next(p for p in curve if p.min_confidence == chosen)
    return {
        "min_confidence": chosen,
        "n_prompts": len(val),
        "best_single_quality": target,
        "quality": point.quality,
        "cost_usd": point.cost_usd,
        "ece": expected_calibration_error(proba, held.passes(config.threshold)),
    }


def _manifest(
    config: TrainConfig,
    dataset: RoutingDataset,
    train_set: RoutingDataset,
    split: Split,
    encoder: dict[str, Any],
    policy: Policy,
    validation: dict[str, Any],
    summary: HeldOutSummary,
) -> dict[str, Any]:
    pass_rates = train_set.passes(config.threshold).mean(axis=0).tolist()
    mean_scores = train_set.scores.mean(axis=0).tolist()
    return {
        "version": new_version_name(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": [{"path": str(p), "sha256": sha256_file(Path(p))} for p in config.data],
        "catalog": {"path": str(config.catalog), "sha256": sha256_file(Path(config.catalog))},
        "encoder": encoder,
        "models": dataset.models,
        "labels": dataset.models,
        "threshold": config.threshold,
        "score_scale": asdict(config.scale),
        "unsolvable_policy": config.unsolvable,
        "cost_rule": config.cost_rule.to_dict(),
        "policy": policy.to_dict(),
        "train_pass_rates": dict(zip(dataset.models, pass_rates, strict=True)),
        "train_mean_scores": dict(zip(dataset.models, mean_scores, strict=True)),
        "default_min_confidence": validation["min_confidence"],
        "min_confidence_rule": MIN_CONFIDENCE_RULE,
        "seed": config.seed,
        "split": {
            "method": split.method,
            "n_prompts": len(dataset),
            "n_train": len(split.train),
            "n_test": len(split.test),
            "dropped_train_overlap": split.dropped_overlap,
            "skipped_incomplete": dataset.skipped_incomplete,
        },
        "metrics": {"validation": validation, "heldout": summary.to_dict()},
        "library_versions": library_versions(),
    }


@dataclass(frozen=True)
class FittedVersion:
    """A router fitted in memory, with everything its version folder will hold."""

    manifest: dict[str, Any]
    pass_model: Any
    label_classifier: Any
    catalog_toml: str
    training_prompts: list[str]
    summary: HeldOutSummary


def fit_version(
    config: TrainConfig,
    catalog: Catalog,
    dataset: RoutingDataset,
    split: Split,
    X: np.ndarray,
    encoder: EncoderIdentity,
) -> FittedVersion:
    """Fit the heads on the training side of ``split`` and score them on its held-out side.

    ``X`` holds the embeddings of every prompt of ``dataset``, in order. Nothing is written.
    """
    train_set, test_set = dataset.subset(split.train), dataset.subset(split.test)
    policy = Policy(config.policy, reference_cost(train_set))
    validation = _choose_min_confidence(X[split.train], train_set, config, policy)
    pass_model, label_classifier = _fit_heads(X[split.train], train_set, config)
    summary = summarise_heldout(
        test_set,
        X[split.test],
        pass_model,
        label_classifier,
        config.threshold,
        validation["min_confidence"],
        policy,
    )
    manifest = _manifest(
        config, dataset, train_set, split, encoder.to_dict(), policy, validation, summary
    )
    return FittedVersion(
        manifest,
        pass_model,
        label_classifier,
        catalog.restricted_to(dataset.models).to_toml(),
        train_set.prompts,
        summary,
    )


def write_version(staged: Path, fitted: FittedVersion, export: OnnxEncoder) -> dict[str, Any]:
    """Write a fitted router's files into a staging folder and seal them; returns the manifest.

    The files include the heads as plain arrays and the encoder's ONNX graphs (fp32 and int8)
    and tokenizer, copied from ``export`` (the :func:`exported_encoder` that embedded the
    prompts), for serving without torch or scikit-learn.
    """
    joblib.dump(fitted.pass_model, staged / PASS_MODEL_FILE)
    fitted.pass_model.to_arrays().save(staged / HEADS_FILE)
    joblib.dump(fitted.label_classifier, staged / LABEL_CLASSIFIER_FILE)
    (staged / CATALOG_FILE).write_text(fitted.catalog_toml, encoding="utf-8")
    hashes = sorted({prompt_hash(p) for p in fitted.training_prompts})
    (staged / TRAINING_PROMPTS_FILE).write_text("\n".join(hashes) + "\n", encoding="utf-8")
    spec = copy_export(export, staged)
    recorded = fitted.manifest["encoder"]
    return seal(staged, {**fitted.manifest, "encoder": {**recorded, "onnx": spec.to_dict()}})


def _publish_current(
    registry: Path, fitted: FittedVersion, export: OnnxEncoder
) -> tuple[Path, dict[str, Any]]:
    """Under ``registry``'s lock: clear killed runs' leftovers, publish ``fitted`` and make it
    current."""
    with writing_registry(registry):
        clean_leftovers(registry)
        with staging(registry) as staged:
            manifest = write_version(staged, fitted, export)
            version_dir = publish(registry, staged, manifest["version"])
        set_current(registry, manifest["version"])
    return version_dir, manifest


def train(config: TrainConfig) -> TrainResult:
    """Train a router on evaluation logs and publish it as a new version of ``config.out``.

    The version is built in a staging folder and renamed into place; ``current`` moves only after
    that, so a failed or interrupted run leaves ``current`` and every published version as they
    were. Writing the version holds the registry's lock (as retrain, promote and rollback do),
    which is also checked before the inputs are embedded, and first removes what killed runs left
    behind.

    Raises
    ------
    RegistryLockedError
        When another process holds the registry's lock.
    RouterMLError
        On bad logs, catalog or parameters; the registry is left as it was.
    """
    check_config(config)
    encoder = Encoder(config.encoder, max_seq_length=config.max_seq_length)
    catalog = load_catalog(config.catalog)
    dataset = build_dataset(
        read_logs(list(config.data), layout=config.layout, scale=config.scale),
        catalog,
        config.cost_rule,
    )
    split = split_dataset(dataset, config)
    check_passing(dataset.subset(split.train), config.threshold)
    check_unlocked(config.out)
    identity = encoder.identity
    cache = EmbeddingCache(config.cache_dir or default_cache_dir(), identity.cache_key)
    with exported_encoder(encoder) as export:
        X, newly = embed_prompts(
            dataset.prompts, export, cache, show_progress_bar=config.show_progress
        )
        fitted = fit_version(config, catalog, dataset, split, X, identity)
        version_dir, manifest = _publish_current(config.out, fitted, export)
    logger.info("published %s", version_dir)
    return TrainResult(version_dir, manifest, fitted.summary, newly)
