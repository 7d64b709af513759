"""Training on logs whose costs are not the serving-time estimate: the router decides as served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import with_logged_costs, write_jsonl

from router_ml import Router
from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import build_dataset
from router_ml.data.evallog import read_logs
from router_ml.data.splits import prompt_hash
from router_ml.training.pipeline import TrainConfig, TrainResult, split_dataset, train


def _train(folder: Path, rows: list[dict], catalog: Path, cache: Path) -> TrainResult:
    log = write_jsonl(folder / "log.jsonl", rows)
    config = TrainConfig(
        data=(log,), catalog=catalog, out=folder / "models", cache_dir=cache, show_progress=False
    )
    return train(config)


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, small_rows: list[dict], catalog_path: Path, cache_dir
) -> tuple[TrainResult, list[dict]]:
    rows = with_logged_costs(small_rows, catalog_path)
    return _train(tmp_path_factory.mktemp("logged"), rows, catalog_path, cache_dir), rows


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
