"""Held-out splits on real prompts: split column, time, text hash; never a text on both sides."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pipeline_helpers import first_prompts, write_jsonl

from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import RoutingDataset, build_dataset
from router_ml.data.evallog import read_log
from router_ml.data.splits import Split, holdout_split

N_PROMPTS = 40
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def rows(sample_rows: list[dict]) -> list[dict]:
    return first_prompts(sample_rows, N_PROMPTS)


def _index(rows: list[dict]) -> dict[str, int]:
    return {pid: i for i, pid in enumerate(dict.fromkeys(r["prompt_id"] for r in rows))}


def _copy_of(rows: list[dict], pid: str, new_pid: str, **extra: object) -> list[dict]:
    """The rows of prompt ``pid`` again, under another prompt_id."""
    return [{**r, "prompt_id": new_pid, **extra} for r in rows if r["prompt_id"] == pid]


def _dataset(tmp_path: Path, rows: list[dict], catalog_path: Path) -> RoutingDataset:
    log = write_jsonl(tmp_path / "log.jsonl", rows)
    return build_dataset(read_log(log), load_catalog(catalog_path))


def _texts(dataset: RoutingDataset, positions) -> set[str]:
    return {dataset.prompts[i] for i in positions}


def _assert_disjoint(dataset: RoutingDataset, split: Split) -> None:
    assert len(split.train) and len(split.test)
    assert not _texts(dataset, split.train) & _texts(dataset, split.test)


def test_split_column_is_honoured_and_overlap_dropped(
    tmp_path: Path, rows: list[dict], catalog_path: Path
) -> None:
    index = _index(rows)
    marked = [{**r, "split": "test" if index[r["prompt_id"]] % 5 == 0 else "train"} for r in rows]
    test_pid = next(pid for pid, i in index.items() if i == 5)
    dataset = _dataset(
        tmp_path, marked + _copy_of(marked, test_pid, "copy", split="train"), catalog_path
    )
    split = holdout_split(dataset)
    assert split.method == "split_column"
    assert sorted(dataset.prompt_ids[i] for i in split.test) == sorted(
        pid for pid, i in index.items() if i % 5 == 0
    )
    assert "copy" not in {dataset.prompt_ids[i] for i in split.train}
    assert split.dropped_overlap == 1
    assert len(split.train) == N_PROMPTS - len(split.test)
    _assert_disjoint(dataset, split)


def test_a_conversation_is_the_twin_of_the_prompt_it_embeds_as(
    tmp_path: Path, rows: list[dict], catalog_path: Path
) -> None:
    """The router sees only the embedded text: a held-out prompt's text must not be trained on
    as a conversation either."""
    index = _index(rows)
    marked = [{**r, "split": "test" if index[r["prompt_id"]] % 5 == 0 else "train"} for r in rows]
    test_pid = next(pid for pid, i in index.items() if i == 5)
    as_chat = [
        {
            **r,
            "prompt": [
                {"role": "assistant", "content": "Ask."},
                {"role": "user", "content": r["prompt"]},
            ],
        }
        for r in _copy_of(marked, test_pid, "chat-copy", split="train")
    ]
    dataset = _dataset(tmp_path, marked + as_chat, catalog_path)
    split = holdout_split(dataset)
    assert "chat-copy" in dataset.prompt_ids
    assert "chat-copy" not in {dataset.prompt_ids[i] for i in split.train}
    assert split.dropped_overlap == 1


def test_time_split_holds_out_the_latest_prompts(
    tmp_path: Path, rows: list[dict], catalog_path: Path
) -> None:
    index = _index(rows)

    def stamp(i: int) -> str:
        return (START + timedelta(hours=i)).isoformat()

    timed = [{**r, "timestamp": stamp(index[r["prompt_id"]])} for r in rows]
    latest = next(pid for pid, i in index.items() if i == N_PROMPTS - 1)
    early_copy = _copy_of(timed, latest, "early-copy", timestamp=stamp(-1))
    dataset = _dataset(tmp_path, timed + early_copy, catalog_path)
    split = holdout_split(dataset, fraction=0.2)
    assert split.method == "time"
    held_out = {dataset.prompt_ids[i] for i in split.test}
    assert held_out == {pid for pid, i in index.items() if i >= N_PROMPTS - 8}
    assert split.dropped_overlap == 1
    _assert_disjoint(dataset, split)


def test_one_missing_timestamp_falls_back_to_text_hash(
    tmp_path: Path, rows: list[dict], catalog_path: Path
) -> None:
    index = _index(rows)
    timed = [
        {
            **r,
            "timestamp": None
            if index[r["prompt_id"]] == 3
            else 1_700_000_000 + index[r["prompt_id"]],
        }
        for r in rows
    ]
    assert holdout_split(_dataset(tmp_path, timed, catalog_path)).method == "text_hash"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_text_hash_keeps_duplicated_texts_on_one_side(
    tmp_path: Path, rows: list[dict], catalog_path: Path, seed: int
) -> None:
    copies = [c for pid in _index(rows) for c in _copy_of(rows, pid, f"{pid}-copy")]
    dataset = _dataset(tmp_path, rows + copies, catalog_path)
    assert len(dataset) == 2 * N_PROMPTS
    split = holdout_split(dataset, fraction=0.3, seed=seed)
    assert split.method == "text_hash"
    _assert_disjoint(dataset, split)
    assert len(split.train) + len(split.test) == len(dataset)


def test_text_hash_split_depends_on_the_seed_only(
    tmp_path: Path, rows: list[dict], catalog_path: Path
) -> None:
    dataset = _dataset(tmp_path, rows, catalog_path)
    again = holdout_split(dataset, seed=0).test.tolist()
    assert holdout_split(dataset, seed=0).test.tolist() == again
    assert any(holdout_split(dataset, seed=s).test.tolist() != again for s in (1, 2, 3))


@pytest.mark.parametrize("marker", ["Test", "test ", " TEST", "eval", "holdout", "Holdout"])
def test_split_values_are_read_in_any_case_and_spacing(
    tmp_path: Path, rows: list[dict], catalog_path: Path, marker: str
) -> None:
    index = _index(rows)
    marked = [{**r, "split": marker if index[r["prompt_id"]] % 4 == 0 else "Train"} for r in rows]
    split = holdout_split(_dataset(tmp_path, marked, catalog_path))
    assert split.method == "split_column"
    assert len(split.test) == N_PROMPTS // 4


@pytest.mark.parametrize(
    ("timed", "marker", "message"),
    [
        (False, None, "values: dev, train\\) marks no prompt as test; .* by a hash of the prompt"),
        (True, None, "values: dev, train\\) marks no prompt as test; .* by time"),
        (False, "test", "values: test\\) marks every prompt as test; .* by a hash of the prompt"),
    ],
    ids=["no-test-text-hash", "no-test-time", "all-test"],
)
def test_a_split_column_that_marks_no_test_side_is_ignored_with_a_warning(
    tmp_path: Path,
    rows: list[dict],
    catalog_path: Path,
    caplog: pytest.LogCaptureFixture,
    timed: bool,
    marker: str | None,
    message: str,
) -> None:
    index = _index(rows)
    marked = [
        {
            **r,
            "split": marker or ("dev" if index[r["prompt_id"]] % 4 == 0 else "train"),
            "timestamp": 1_700_000_000 + index[r["prompt_id"]] if timed else None,
        }
        for r in rows
    ]
    split = holdout_split(_dataset(tmp_path, marked, catalog_path))
    assert split.method == ("time" if timed else "text_hash")
    (record,) = [r for r in caplog.records if r.name == "router_ml.data.splits"]
    assert record.levelname == "WARNING"
    assert re.search(f"the log's split column \\({message}", record.getMessage())
