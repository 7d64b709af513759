"""The history folder's rules: files, time (with the mtime fallback), window, latest outcome, models."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pipeline_helpers import write_jsonl
from retrain_helpers import DAY, rows_of, shuffled_ids, stamped

from router_ml.data.catalog import Catalog, load_catalog
from router_ml.data.evallog import read_log
from router_ml.errors import DataError
from router_ml.retraining.history import (
    MIN_MODEL_PROMPTS,
    History,
    assemble_history,
    history_files,
    latest_per_pair,
)

NOW = time.time()


@pytest.fixture(scope="module")
def ids(sample_rows: list[dict]) -> list[str]:
    """The sample's prompt ids, shuffled so that any run of them mixes the tasks."""
    return shuffled_ids(sample_rows)


@pytest.fixture(scope="module")
def catalog(catalog_path: Path) -> Catalog:
    return load_catalog(catalog_path)


def _assemble(folder: Path, catalog: Catalog, window_days: float = 30) -> History:
    files = history_files(folder)
    return assemble_history([(f, read_log(f)) for f in files], NOW, window_days, catalog, 1.0)


def test_history_files_are_logs_sorted_by_path_without_hidden_ones(tmp_path: Path) -> None:
    for name in (
        "b/2.csv.gz",
        "a.jsonl",
        "b/1.parquet",
        ".upload.jsonl",
        ".tmp/x.jsonl",
        "notes.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in history_files(tmp_path)] == [
        "a.jsonl",
        "b/1.parquet",
        "b/2.csv.gz",
    ]


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p], ids=["missing", "empty"])
def test_history_without_logs_is_a_data_error(tmp_path: Path, make) -> None:
    with pytest.raises(DataError, match="history folder"):
        history_files(make(tmp_path))


def test_window_keeps_recent_rows_and_times_untimed_rows_by_file_mtime(
    tmp_path: Path, sample_rows: list[dict], ids: list[str], catalog: Catalog
) -> None:
    old, recent, untimed_old, untimed_new = (
        rows_of(sample_rows, ids[i : i + 60]) for i in (0, 60, 120, 180)
    )
    write_jsonl(tmp_path / "1-old.jsonl", stamped(old, NOW - 40 * DAY))
    write_jsonl(tmp_path / "2-recent.jsonl", stamped(recent, NOW - 2 * DAY))
    os.utime(
        write_jsonl(tmp_path / "3-untimed-old.jsonl", stamped(untimed_old, None)),
        (NOW - 40 * DAY,) * 2,
    )
    write_jsonl(tmp_path / "4-untimed-new.jsonl", stamped(untimed_new, None))
    history = _assemble(tmp_path, catalog)
    assert {o.prompt_id for o in history.outcomes} == {r["prompt_id"] for r in recent + untimed_new}
    assert history.rows_read == len(old) + len(recent) + len(untimed_old) + len(untimed_new)
    assert history.rows_outside_window == len(old) + len(untimed_old)
    assert history.rows_timed_by_file == len(untimed_old) + len(untimed_new)
    mtime = (tmp_path / "4-untimed-new.jsonl").stat().st_mtime
    assert {o.timestamp for o in history.outcomes if o.path.endswith("untimed-new.jsonl")} == {
        mtime
    }


def test_latest_outcome_wins_then_the_later_in_file_order(
    tmp_path: Path, sample_rows: list[dict], ids: list[str], catalog: Catalog
) -> None:
    rows = rows_of(sample_rows, ids[:60])
    write_jsonl(tmp_path / "a.jsonl", stamped(rows, NOW - 3 * DAY))
    write_jsonl(tmp_path / "b.jsonl", stamped(rows, NOW - 5 * DAY, flip=True))  # later file, older
    write_jsonl(tmp_path / "c.jsonl", stamped(rows, NOW - 3 * DAY, flip=True))  # same time as a
    write_jsonl(tmp_path / "d.jsonl", stamped(rows, NOW - 3 * DAY))  # same time, last: wins
    history = _assemble(tmp_path, catalog)
    assert history.rows_superseded == 3 * len(rows)
    assert {o.path for o in history.outcomes} == {str(tmp_path / "d.jsonl")}
    expected = {(r["prompt_id"], r["model"]): r["score"] for r in rows}
    assert {(o.prompt_id, o.model): o.score for o in history.outcomes} == expected


def test_latest_per_pair_on_equal_times_keeps_the_last_line(tmp_path: Path, sample_rows) -> None:
    row = sample_rows[0]
    log = write_jsonl(tmp_path / "log.jsonl", stamped([row, {**row, "score": 0.5}], NOW))
    (kept,) = latest_per_pair(read_log(log))
    assert (kept.line, kept.score) == (2, 0.5)


def test_models_absent_from_the_catalog_are_left_out_and_counted(
    tmp_path: Path, sample_rows: list[dict], ids: list[str], catalog: Catalog
) -> None:
    rows = stamped(rows_of(sample_rows, ids[:60]), NOW)
    retired = rows[0]["model"]
    write_jsonl(tmp_path / "log.jsonl", rows)
    smaller = Catalog({k: v for k, v in catalog.models.items() if k != retired})
    history = _assemble(tmp_path, smaller)
    assert retired not in {o.model for o in history.outcomes}
    assert history.not_in_catalog == {retired: 60}


def test_model_with_too_few_outcomes_is_left_out_with_what_it_needs(
    tmp_path: Path,
    sample_rows: list[dict],
    ids: list[str],
    catalog: Catalog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = stamped(rows_of(sample_rows, ids[:80]), NOW)
    model = rows[0]["model"]
    sparse = [r for r in rows if r["model"] != model or r["prompt_id"] in set(ids[:30])]
    write_jsonl(tmp_path / "log.jsonl", sparse)
    history = _assemble(tmp_path, catalog)
    assert model not in {o.model for o in history.outcomes}
    assert len({o.model for o in history.outcomes}) == 8
    assert f"at least {MIN_MODEL_PROMPTS} prompts" in history.too_few[model]
    assert history.too_few[model].startswith("30 of the window's 80 prompts")
    assert f"model '{model}' is left out: 30 of the window's 80 prompts" in caplog.text


def test_model_covering_under_half_the_prompts_is_left_out(
    tmp_path: Path, sample_rows: list[dict], ids: list[str], catalog: Catalog
) -> None:
    rows = stamped(rows_of(sample_rows, ids[:150]), NOW)
    model = rows[0]["model"]
    partial = [r for r in rows if r["model"] != model or r["prompt_id"] in set(ids[:70])]
    write_jsonl(tmp_path / "log.jsonl", partial)
    history = _assemble(tmp_path, catalog)
    assert "50% of the window's prompts" in history.too_few[model]
    assert len({o.prompt_id for o in history.outcomes}) == 150


def test_empty_window_is_a_data_error(
    tmp_path: Path, sample_rows: list[dict], ids: list[str], catalog: Catalog
) -> None:
    write_jsonl(tmp_path / "log.jsonl", stamped(rows_of(sample_rows, ids[:10]), NOW - 9 * DAY))
    with pytest.raises(DataError, match=r"no usable outcome in the last 7 days .* 90 older"):
        _assemble(tmp_path, catalog, window_days=7)
