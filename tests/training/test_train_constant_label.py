"""Training where one cheap model passes every prompt: the card's label takes one value."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import write_jsonl

from router_ml import Router
from router_ml.data.catalog import load_catalog
from router_ml.report.pipeline import ReportConfig, make_report
from router_ml.training.pipeline import TrainConfig, train


def test_a_constant_label_still_publishes_reports_and_routes(
    tmp_path: Path,
    small_rows: list[dict],
    sample_rows: list[dict],
    catalog_path: Path,
    cache_dir: Path,
) -> None:
    prices = load_catalog(catalog_path).models.values()
    cheapest = min(prices, key=lambda p: p.input_per_mtok + p.output_per_mtok).name
    small = {r["prompt_id"] for r in small_rows}
    heldout = [r for r in sample_rows if r["prompt_id"] not in small][:270]
    solved = [{**r, "score": 1.0} if r["model"] == cheapest else r for r in small_rows + heldout]
    train_log = write_jsonl(tmp_path / "train.jsonl", solved[: len(small_rows)])
    config = TrainConfig(
        data=(train_log,), catalog=catalog_path, out=tmp_path / "models", cache_dir=cache_dir,
        show_progress=False,
    )  # fmt: skip
    result = train(config)
    assert result.summary.label_accuracy == 1.0  # the oracle label is the cheapest model too
    report_log = write_jsonl(tmp_path / "heldout.jsonl", solved[len(small_rows) :])
    report_config = ReportConfig(
        result.version_dir, (report_log,), catalog_path, tmp_path / "report",
        cache_dir=cache_dir, n_bootstrap=20, show_progress=False,
    )  # fmt: skip
    report = make_report(report_config).report
    column = report.models.index(cheapest)
    assert report.label_classifier.accuracy == 1.0
    assert report.label_classifier.confusion[column][column] == report.n_prompts
    assert (tmp_path / "report" / "confusion.png").is_file()
    assert Router.load(result.version_dir).route("Name a prime number.").model in report.models
