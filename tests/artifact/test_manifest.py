"""The manifest of a real trained version says what it was made from, and hashes every file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import pytest

from router_ml.artifact.manifest import MANIFEST_NAME, sha256_file
from router_ml.artifact.registry import resolve_version
from router_ml.data.catalog import load_catalog
from router_ml.embedding.encoder import Encoder


@pytest.fixture(scope="module")
def version(trained_registry: Path) -> Path:
    return resolve_version(trained_registry)


@pytest.fixture(scope="module")
def manifest(version: Path) -> dict:
    return json.loads((version / MANIFEST_NAME).read_text(encoding="utf-8"))


def test_version_and_time(version: Path, manifest: dict) -> None:
    assert manifest["version"] == version.name
    created = datetime.fromisoformat(manifest["created_at"])
    assert timedelta(0) <= datetime.now(UTC) - created < timedelta(hours=2)


def test_data_hashes(manifest: dict, sample_log: Path, catalog_path: Path) -> None:
    assert manifest["data"] == [{"path": str(sample_log), "sha256": sha256_file(sample_log)}]
    assert manifest["catalog"]["sha256"] == sha256_file(catalog_path)


def test_encoder_identity(manifest: dict, encoder: Encoder) -> None:
    assert manifest["encoder"]["name"] == "all-MiniLM-L6-v2"
    assert manifest["encoder"]["weights_sha256"] == encoder.identity.weights_sha256
    assert len(manifest["encoder"]["weights_sha256"]) == 64


def test_labels_are_the_catalog_models_in_column_order(
    manifest: dict, sample_rows: list[dict], catalog_path: Path
) -> None:
    logged = sorted({r["model"] for r in sample_rows})
    assert manifest["labels"] == manifest["models"] == logged
    assert set(logged) <= set(load_catalog(catalog_path).models)


def test_threshold_and_default_min_confidence(manifest: dict) -> None:
    assert manifest["threshold"] == 1.0
    assert 0.0 <= manifest["default_min_confidence"] <= 1.0
    assert manifest["metrics"]["validation"]["min_confidence"] == manifest["default_min_confidence"]


def test_heldout_metrics(manifest: dict) -> None:
    heldout = manifest["metrics"]["heldout"]
    assert heldout["n_prompts"] == manifest["split"]["n_test"] > 0
    assert set(heldout["models"]) == set(manifest["models"])
    assert heldout["best_single"] in manifest["models"]
    for figures in (heldout["router"], heldout["oracle"], *heldout["models"].values()):
        assert 0.0 <= figures["quality"] <= 1.0 and figures["cost_usd"] >= 0.0
    best_cost = heldout["models"][heldout["best_single"]]["cost_usd"]
    assert heldout["savings_vs_best"] == pytest.approx(
        1 - heldout["router"]["cost_usd"] / best_cost
    )


def test_split_counts(manifest: dict, sample_rows: list[dict]) -> None:
    split = manifest["split"]
    assert split["n_prompts"] == len({r["prompt_id"] for r in sample_rows})
    assert split["n_train"] + split["n_test"] + split["dropped_train_overlap"] == split["n_prompts"]
    assert split["skipped_incomplete"] == 0


def test_library_versions(manifest: dict) -> None:
    versions = manifest["library_versions"]
    for name in ("numpy", "scikit-learn", "joblib", "sentence-transformers", "torch"):
        assert versions[name] == metadata.version(name)
    assert versions["python"].count(".") == 2


def test_file_hashes_match_the_files_on_disk(version: Path, manifest: dict) -> None:
    on_disk = {p.name: sha256_file(p) for p in version.iterdir() if p.name != MANIFEST_NAME}
    assert manifest["files"] == on_disk
