"""Training where one cheap model passes every prompt: the card's label takes one value."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import report_quietly, train_quietly, unseen_rows

from router_ml import Router
from router_ml.data.catalog import load_catalog


def test_a_constant_label_still_publishes_reports_and_routes(
    tmp_path: Path,
    small_rows: list[dict],
    sample_rows: list[dict],
    catalog_path: Path,
    cache_dir: Path,
) -> None:
    prices = load_catalog(catalog_path).models.values()
    cheapest = min(prices, key=lambda p: p.input_per_mtok + p.output_per_mtok).name

    def solved(rows: list[dict]) -> list[dict]:
        return [{**r, "score": 1.0} if r["model"] == cheapest else r for r in rows]

    result = train_quietly(tmp_path, solved(small_rows), catalog_path, cache_dir)
    assert result.summary.label_accuracy == 1.0  # the oracle label is the cheapest model too
    heldout = solved(unseen_rows(sample_rows, small_rows, 270))
    report = report_quietly(result.version_dir, heldout, catalog_path, tmp_path, cache_dir)
    column = report.models.index(cheapest)
    assert report.label_classifier.accuracy == 1.0
    assert report.label_classifier.confusion[column][column] == report.n_prompts
    assert (tmp_path / "report" / "confusion.png").is_file()
    assert Router.load(result.version_dir).route("Name a prime number.").model in report.models
