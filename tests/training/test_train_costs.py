"""Training on unusual costs: logged costs that are not the serving-time estimate, free models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import report_quietly, train_quietly, unseen_rows, with_logged_costs

from router_ml import Router
from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import build_dataset
from router_ml.data.evallog import read_logs
from router_ml.data.splits import prompt_hash
from router_ml.training.pipeline import TrainConfig, TrainResult, split_dataset


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, small_rows: list[dict], catalog_path: Path, cache_dir
) -> tuple[TrainResult, list[dict]]:
    rows = with_logged_costs(small_rows, catalog_path)
    return train_quietly(tmp_path_factory.mktemp("logged"), rows, catalog_path, cache_dir), rows


def test_heldout_router_cost_is_the_served_decisions(
    logged: tuple[TrainResult, list[dict]], catalog_path: Path
) -> None:
    result, rows = logged
    log = result.manifest["data"][0]["path"]
    dataset = build_dataset(read_logs([Path(log)]), load_catalog(catalog_path))
    test = dataset.subset(split_dataset(dataset, TrainConfig((), catalog_path, Path())).test)
    cost = {(r["prompt"], r["model"]): r["cost_usd"] for r in rows}
    decisions = Router.load(result.version_dir).route_many(test.prompts)
    served = sum(cost[p, d.model] for p, d in zip(test.prompts, decisions, strict=True))
    assert result.summary.router.cost_usd == pytest.approx(served)


def test_reference_cost_is_the_estimated_one(
    logged: tuple[TrainResult, list[dict]], catalog_path: Path
) -> None:
    result, _ = logged
    router = Router.load(result.version_dir)
    hashes = router.training_prompt_hashes()
    dataset = build_dataset(read_logs([Path(result.manifest["data"][0]["path"])]), router.catalog)
    trained = [p for p in dataset.prompts if prompt_hash(p) in hashes]
    expected = np.median(router.estimate_costs(trained).max(axis=1))
    assert router.policy.reference_cost_usd == pytest.approx(expected)


def test_a_free_catalog_trains_reports_and_routes(
    tmp_path: Path,
    small_rows: list[dict],
    sample_rows: list[dict],
    catalog_path: Path,
    cache_dir: Path,
) -> None:
    """Self-hosted models (every price 0): cost weighs nothing, the router takes the best value."""
    models = sorted({r["model"] for r in small_rows})
    free = tmp_path / "free.toml"
    free.write_text(
        "".join(f'[models."{m}"]\ninput_per_mtok = 0\noutput_per_mtok = 0\n' for m in models)
    )
    result = train_quietly(tmp_path, small_rows, free, cache_dir)
    assert result.manifest["policy"]["reference_cost_usd"] == 0.0
    assert result.summary.router.cost_usd == 0.0
    heldout = unseen_rows(sample_rows, small_rows, 300)
    report = report_quietly(result.version_dir, heldout, free, tmp_path, cache_dir)
    assert report.router.cost_usd == 0.0
    decision = Router.load(result.version_dir).route("What is the capital of France?")
    assert decision.model in models
    assert decision.ranked[0].estimated_cost_usd == 0.0
