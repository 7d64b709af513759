"""``router-ml report`` run for real on the held-out part of the sample, with the trained router."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import report_quietly, with_logged_costs, write_jsonl

from router_ml import ConfigError, Router
from router_ml.cli import main
from router_ml.data.splits import prompt_hash
from router_ml.evaluation.metrics import CurvePoint, RoutingFigures, headline_savings
from router_ml.report.pipeline import ReportConfig, _write_folder, make_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = {"cost_quality.png", "traffic.png", "reliability.png", "per_task.png", "confusion.png"}


@pytest.fixture(scope="module")
def heldout_rows(router: Router, sample_rows: list[dict]) -> list[dict]:
    trained = router.training_prompt_hashes()
    return [r for r in sample_rows if prompt_hash(r["prompt"]) not in trained]


@pytest.fixture(scope="module")
def heldout_log(tmp_path_factory: pytest.TempPathFactory, heldout_rows: list[dict]) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("heldout") / "heldout.jsonl", heldout_rows)


def report_args(registry: Path, log: Path, catalog: Path, out: Path, cache: Path) -> list[str]:
    return [
        "report",
        "--model", str(registry),
        "--data", str(log),
        "--catalog", str(catalog),
        "--out", str(out),
        "--cache-dir", str(cache),
        "--no-progress",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def report_dir(
    tmp_path_factory: pytest.TempPathFactory,
    trained_registry: Path,
    heldout_log: Path,
    catalog_path: Path,
    cache_dir: Path,
) -> Path:
    out = tmp_path_factory.mktemp("reports") / "heldout-report"
    args = report_args(trained_registry, heldout_log, catalog_path, out, cache_dir)
    assert main([*args, "--bootstrap", "300", "--seed", "4"]) == 0
    return out


@pytest.fixture(scope="module")
def document(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text(encoding="utf-8"))


def test_report_folder_holds_json_html_and_figures(report_dir: Path) -> None:
    assert {p.name for p in report_dir.iterdir()} == {"report.json", "report.html"} | FIGURES
    assert not [p for p in report_dir.parent.iterdir() if p.name.startswith(".")]


def test_report_folder_has_the_umasks_mode(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        _write_folder(tmp_path / "report", {"report.json": b"{}"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "report").stat().st_mode) == 0o755


def test_json_has_every_field(document: dict, router: Router, heldout_rows: list[dict]) -> None:
    assert document["n_prompts"] == len({r["prompt_id"] for r in heldout_rows})
    assert document["n_train_overlap"] == 0
    assert document["threshold"] == router.threshold
    assert set(document["models"]) == set(router.models)
    for key in ("quality", "pass_rate", "cost_usd", "cost_per_request_usd"):
        for block in ("router", "best_single", "oracle", "random_router", "label_classifier"):
            assert isinstance(document[block][key], float), (block, key)
    assert document["router"]["min_confidence"] == router.default_min_confidence
    assert sum(document["router"]["traffic_share"].values()) == pytest.approx(1.0)
    for key in ("savings_at_best_quality", "savings_at_95pct_quality", "apgr"):
        assert key in document and key in document["zero_router"]
    assert set(document["aiq"]) == {"router", "single_models", "zero_router", "cost_range_usd"}
    assert 0.0 <= document["label_accuracy"] <= 1.0 and 0.0 <= document["macro_f1"] <= 1.0
    assert 0.0 <= document["ece"] <= 1.0 and 0.0 <= document["zero_router"]["ece"] <= 1.0
    assert len(document["reliability"]) == 10
    assert sum(b["count"] for b in document["reliability"]) == document["n_prompts"] * len(
        router.models
    )
    assert document["per_task"] and all(t["n_prompts"] > 0 for t in document["per_task"].values())
    matrix = np.array(document["label_classifier"]["confusion_matrix"]["counts"])
    assert matrix.shape == (len(router.models),) * 2 and matrix.sum() == document["n_prompts"]


def test_json_figures_are_consistent(document: dict) -> None:
    models = document["models"]
    best = document["best_single"]
    assert models[best["model"]]["quality"] == max(m["quality"] for m in models.values())
    assert document["oracle"]["pass_rate"] >= max(m["pass_rate"] for m in models.values())
    curve = [CurvePoint(**p) for p in document["curve"]]
    assert curve[0].min_confidence == 0.0 and curve[-1].min_confidence == 1.0
    best_figures = RoutingFigures(best["quality"], best["pass_rate"], best["cost_usd"])
    assert headline_savings(curve, best_figures) == (
        document["savings_at_best_quality"],
        document["savings_at_95pct_quality"],
    )
    boot = document["bootstrap"]
    assert boot["n_resamples"] == 300 and boot["seed"] == 4
    quality = boot["router_quality"]
    assert quality["low"] <= document["router"]["quality"] <= quality["high"]
    tasks = document["per_task"].values()
    assert sum(t["n_prompts"] for t in tasks) == document["n_prompts"]
    assert sum(t["router"]["cost_usd"] for t in tasks) == pytest.approx(
        document["router"]["cost_usd"]
    )


def test_router_figures_match_routing_each_prompt(
    document: dict, router: Router, heldout_rows: list[dict]
) -> None:
    prompts = {r["prompt_id"]: r["prompt"] for r in heldout_rows}
    score = {(r["prompt_id"], r["model"]): r["score"] for r in heldout_rows}
    decisions = router.route_many(list(prompts.values()))
    picked = [score[pid, d.model] for pid, d in zip(prompts, decisions, strict=True)]
    assert document["router"]["quality"] == pytest.approx(np.mean(picked))
    shares = {m: sum(d.model == m for d in decisions) / len(decisions) for m in router.models}
    assert document["router"]["traffic_share"] == pytest.approx(shares)


def test_with_logged_costs_the_router_decides_as_served(
    tmp_path: Path, router: Router, heldout_rows: list[dict], catalog_path: Path, cache_dir: Path
) -> None:
    """Logged costs (real answer lengths) score the routes; the decisions are the served ones."""
    rows = with_logged_costs(heldout_rows, catalog_path)
    report = report_quietly(router.folder, rows, catalog_path, tmp_path, cache_dir)
    prompts = {r["prompt_id"]: r["prompt"] for r in rows}
    cost = {(r["prompt_id"], r["model"]): r["cost_usd"] for r in rows}
    decisions = router.route_many(list(prompts.values()))
    served = sum(cost[pid, d.model] for pid, d in zip(prompts, decisions, strict=True))
    assert report.router.cost_usd == pytest.approx(served)
    assert report.traffic_share == pytest.approx(
        {m: sum(d.model == m for d in decisions) / len(decisions) for m in router.models}
    )


def test_console_summary_leads_with_the_router_as_served(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trained_registry: Path,
    heldout_log: Path,
    catalog_path: Path,
    cache_dir: Path,
) -> None:
    out = tmp_path / "report"
    args = report_args(trained_registry, heldout_log, catalog_path, out, cache_dir)
    assert main([*args, "--bootstrap", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    router, best = document["router"], document["best_single"]
    savings = 1 - router["cost_usd"] / best["cost_usd"]
    assert lines[-3] == f"wrote {out}/report.html on {document['n_prompts']} prompts"
    assert lines[-2] == (
        f"router at its default min_confidence {router['min_confidence']:g}: quality "
        f"{router['quality']:.3f}, cost ${router['cost_usd']:.4g}, savings vs the best single "
        f"model ({best['model']}, quality {best['quality']:.3f}, cost ${best['cost_usd']:.4g}) "
        f"{savings:.1%}"
    )
    assert lines[-1].startswith(
        "min_confidence sweep, best points chosen on these prompts: savings at best quality "
        f"{document['savings_at_best_quality']:.1%}, at 95% "
        f"{document['savings_at_95pct_quality']:.1%}"
    )


def test_html_is_self_contained_with_its_figures(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "http://" not in page and "https://" not in page
    for text in ("Headline", "savings at the best single model", "zero router", "Definitions"):
        assert text in page


def test_figures_are_valid_pngs(report_dir: Path) -> None:
    from matplotlib.image import imread

    for name in FIGURES:
        path = report_dir / name
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        height, width, _ = imread(path).shape
        assert height > 200 and width > 200


@pytest.mark.slow
def test_report_command_as_a_subprocess(
    tmp_path: Path, trained_registry: Path, heldout_log: Path, catalog_path: Path, cache_dir: Path
) -> None:
    out = tmp_path / "report"
    args = report_args(trained_registry, heldout_log, catalog_path, out, cache_dir)
    done = subprocess.run(
        [sys.executable, "-m", "router_ml.cli", *args, "--bootstrap", "100"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}/report.html" in done.stdout
    assert json.loads((out / "report.json").read_text())["bootstrap"]["n_resamples"] == 100


def test_rerun_replaces_the_report_without_embedding_again(
    report_dir: Path, trained_registry: Path, heldout_log: Path, catalog_path: Path, cache_dir: Path
) -> None:
    out = report_dir.parent / "rerun"
    config = ReportConfig(
        model=trained_registry,
        data=(heldout_log,),
        catalog=catalog_path,
        out=out,
        cache_dir=cache_dir,
        n_bootstrap=50,
        show_progress=False,
    )
    make_report(config)
    (out / "stale.txt").write_text("from an older run")
    result = make_report(config)
    assert result.newly_embedded == 0
    assert not (out / "stale.txt").exists() and (out / "report.json").is_file()


def test_training_prompts_are_refused_then_counted(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    router: Router,
    trained_registry: Path,
    sample_log: Path,
    sample_rows: list[dict],
    catalog_path: Path,
    cache_dir: Path,
) -> None:
    trained = router.training_prompt_hashes()
    texts = {r["prompt_id"]: r["prompt"] for r in sample_rows}
    overlap = sum(prompt_hash(t) in trained for t in texts.values())
    assert overlap > 0
    out = tmp_path / "report"
    args = report_args(trained_registry, sample_log, catalog_path, out, cache_dir)
    assert main(args) == 1
    error = capsys.readouterr().err
    assert f"Error: {overlap} of the {len(texts)} prompts" in error
    assert "--allow-train-overlap" in error
    assert not out.exists()
    assert main([*args, "--allow-train-overlap", "--bootstrap", "50"]) == 0
    document = json.loads((out / "report.json").read_text())
    assert (document["n_train_overlap"], document["n_prompts"]) == (overlap, len(texts))
    assert (
        f"{overlap} of the {len(texts)} prompts were in this router"
        in (out / "report.html").read_text()
    )


def _run_failing(args: list[str], capsys: pytest.CaptureFixture[str], out: Path) -> str:
    assert main(args) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("Error: ")
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    return error


def test_missing_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained_registry: Path, catalog_path: Path
) -> None:
    out = tmp_path / "report"
    missing = tmp_path / "nope.jsonl"
    error = _run_failing(
        report_args(trained_registry, missing, catalog_path, out, tmp_path), capsys, out
    )
    assert str(missing) in error and "does not exist" in error


def test_no_resamples_is_refused_before_the_router_loads(tmp_path: Path) -> None:
    config = ReportConfig(tmp_path / "no-registry", (tmp_path / "x.jsonl",), tmp_path, tmp_path)
    with pytest.raises(ConfigError, match=r"^The 'n_bootstrap' parameter must be an integer >= 1"):
        make_report(replace(config, n_bootstrap=0))


def test_missing_router(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], heldout_log: Path, catalog_path: Path
) -> None:
    out = tmp_path / "report"
    args = report_args(tmp_path / "no-registry", heldout_log, catalog_path, out, tmp_path)
    assert "no such registry" in _run_failing(args, capsys, out)


def test_log_missing_a_router_model(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    router: Router,
    trained_registry: Path,
    heldout_rows: list[dict],
    catalog_path: Path,
    cache_dir: Path,
) -> None:
    dropped = router.models[0]
    log = write_jsonl(tmp_path / "fewer.jsonl", [r for r in heldout_rows if r["model"] != dropped])
    out = tmp_path / "report"
    error = _run_failing(
        report_args(trained_registry, log, catalog_path, out, cache_dir), capsys, out
    )
    assert f"no outcomes of {dropped}" in error and router.version in error


def test_log_with_a_model_the_router_lacks(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trained_registry: Path,
    heldout_rows: list[dict],
    catalog_path: Path,
    cache_dir: Path,
    document: dict,
) -> None:
    """A model added to the evaluations since training is left out, said so, and changes nothing."""
    extra = [
        {**r, "model": "extra-model", "score": 1.0}
        for r in heldout_rows
        if r["model"] == heldout_rows[0]["model"]
    ]
    log = write_jsonl(tmp_path / "more.jsonl", heldout_rows + extra)
    out = tmp_path / "report"
    args = report_args(trained_registry, log, catalog_path, out, cache_dir)
    assert main([*args, "--bootstrap", "300", "--seed", "4"]) == 0
    assert "left out extra-model (not routed to)" in capsys.readouterr().out
    with_extra = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert with_extra["source"]["ignored_models"] == ["extra-model"]
    assert document["source"]["ignored_models"] == []
    for key in ("router", "models", "best_single", "oracle", "savings_at_best_quality", "ece"):
        assert with_extra[key] == document[key], key
    assert "extra-model left out of every figure" in (out / "report.html").read_text()


def test_out_that_is_not_a_report_is_left_alone(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trained_registry: Path,
    heldout_log: Path,
    catalog_path: Path,
) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(report_args(trained_registry, heldout_log, catalog_path, out, tmp_path)) == 1
    assert "is not a previous report" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
