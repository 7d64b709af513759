"""build_dataset: cost precedence, duplicates and incomplete prompts, on real prompt texts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import write_jsonl

from router_ml.data.catalog import Catalog, load_catalog
from router_ml.data.costs import CostRule
from router_ml.data.dataset import build_dataset
from router_ml.data.evallog import read_log
from router_ml.errors import DataError

# Prices in USD per 1M tokens: "a" is 2 in / 10 out, "b" is 1 in / 4 out.
CATALOG = """
[models."b"]
input_per_mtok = 1.0
output_per_mtok = 4.0

[models."a"]
input_per_mtok = 2.0
output_per_mtok = 10.0
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    return load_catalog(path)


@pytest.fixture(scope="module")
def texts(sample_rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["prompt"] for r in sample_rows))[:4]


def _row(
    pid: str, text: str | list, model: str, score: float | None = 1.0, **extra: object
) -> dict:
    return {"prompt_id": pid, "prompt": text, "model": model, "score": score, **extra}


def _build(tmp_path: Path, rows: list[dict], catalog: Catalog):
    return build_dataset(read_log(write_jsonl(tmp_path / "log.jsonl", rows)), catalog)


def test_cost_precedence(tmp_path: Path, catalog: Catalog, texts: list[str]) -> None:
    rows = [
        # logged cost wins over logged tokens
        _row("p1", texts[0], "a", cost_usd=0.5, input_tokens=1000, output_tokens=200),
        # logged tokens x catalog prices: 1000 x 1e-6 + 200 x 4e-6
        _row("p1", texts[0], "b", input_tokens=1000, output_tokens=200),
        # output tokens missing: 0.5 x 1000 by the rule; 1000 x 2e-6 + 500 x 10e-6
        _row("p2", texts[1], "a", input_tokens=1000),
        # nothing logged: estimate from prompt length (chars / 4), output = half of that
        _row("p2", texts[1], "b"),
        # a logged cost of zero is a cost, not a missing value
        _row("p3", texts[2], "a", cost_usd=0.0, input_tokens=1000),
        _row("p3", texts[2], "b", cost_usd=0.0),
    ]
    dataset = _build(tmp_path, rows, catalog)
    tokens_in = len(texts[1]) / 4
    expected = [[0.5, 0.0018], [0.007, tokens_in * 1e-6 + 0.5 * tokens_in * 4e-6], [0.0, 0.0]]
    assert dataset.models == ["a", "b"]
    np.testing.assert_allclose(dataset.costs, expected, rtol=1e-9)


def test_cost_rule_counts_at_least_one_prompt_token(catalog: Catalog) -> None:
    costs = CostRule().estimate(np.array([2, 400]), catalog, ["a", "b"])
    np.testing.assert_allclose(costs, [[7e-6, 3e-6], [100 * 7e-6, 100 * 3e-6]], rtol=1e-9)


def test_wide_cost_columns_are_logged_costs(tmp_path: Path, catalog: Catalog, texts: list[str]):
    wide = [{"prompt_id": "p1", "prompt": texts[0], "a": 1, "b": 0, "a|total_cost": 0.3}]
    dataset = build_dataset(read_log(write_jsonl(tmp_path / "wide.jsonl", wide)), catalog)
    tokens_in = len(texts[0]) / 4
    np.testing.assert_allclose(dataset.costs, [[0.3, tokens_in * 3e-6]], rtol=1e-9)


def test_same_score_duplicates_are_kept_once(
    tmp_path: Path, catalog: Catalog, texts: list[str]
) -> None:
    rows = [_row("p1", texts[0], "a", 1.0), _row("p1", texts[0], "b", 0.0)]
    dataset = _build(tmp_path, [*rows, rows[0]], catalog)
    assert (len(dataset), dataset.scores.tolist()) == (1, [[1.0, 0.0]])


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        pytest.param(
            [("p1", 0, "a", 1.0), ("p1", 0, "b", 1.0), ("p1", 0, "a", 0.0)],
            r"log\.jsonl:3: duplicate \(prompt_id 'p1', model 'a'\) .* at \S*log\.jsonl:1 ",
            id="conflicting-duplicate",
        ),
        pytest.param(
            [("p1", 0, "a", 1.0), ("p1", 1, "b", 1.0)],
            r"log\.jsonl:2: prompt_id 'p1' has a different prompt text than at \S*log\.jsonl:1",
            id="one-id-two-texts",
        ),
        pytest.param(
            [("p1", 0, "a", 1.0), ("p2", 1, "b", 1.0)],
            r"log\.jsonl:1: .*prompt_id 'p1' has none for b \(field 'model'\)",
            id="no-complete-prompt",
        ),
    ],
)
def test_inconsistent_logs_are_refused(
    tmp_path: Path, catalog: Catalog, texts: list[str], spec: list[tuple], pattern: str
) -> None:
    rows = [_row(pid, texts[t], model, score) for pid, t, model, score in spec]
    with pytest.raises(DataError, match=pattern):
        _build(tmp_path, rows, catalog)


def test_incomplete_prompts_are_skipped_counted_and_the_sparsest_models_named(
    tmp_path: Path, catalog: Catalog, texts: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        _row("p1", texts[0], "a"),
        _row("p1", texts[0], "b"),
        _row("p2", texts[1], "a"),
        _row("p3", texts[2], "b"),
        _row("p4", texts[3], "a"),
    ]
    dataset = _build(tmp_path, rows, catalog)
    assert (dataset.prompt_ids, dataset.skipped_incomplete) == (["p1"], 3)
    assert "skipped 3 of 4 prompts" in caplog.text
    assert "fewest outcomes: b on 50% of prompts, a on 75% of prompts" in caplog.text


def test_wide_empty_cell_is_a_missing_outcome(
    tmp_path: Path, catalog: Catalog, texts: list[str]
) -> None:
    path = tmp_path / "wide.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt_id", "prompt", "a", "b"])
        writer.writerows([f"p{i}", t, 1 if i else "", 0] for i, t in enumerate(texts[:3]))
    dataset = build_dataset(read_log(path), catalog)
    assert (dataset.prompt_ids, dataset.skipped_incomplete) == (["p1", "p2"], 1)


def test_long_null_score_is_a_missing_outcome(
    tmp_path: Path, catalog: Catalog, texts: list[str]
) -> None:
    rows = [
        _row("p1", texts[0], "a"),
        _row("p1", texts[0], "b", None),
        _row("p2", texts[1], "a"),
        _row("p2", texts[1], "b"),
    ]
    dataset = _build(tmp_path, rows, catalog)
    assert (dataset.prompt_ids, dataset.skipped_incomplete) == (["p2"], 1)


def test_rows_of_one_prompt_that_disagree_on_split_are_refused(
    tmp_path: Path, catalog: Catalog, texts: list[str]
) -> None:
    rows = [
        _row("p1", texts[0], "a", split="Train"),
        _row("p1", texts[0], "b", split="test "),
    ]
    with pytest.raises(
        DataError,
        match=r"log\.jsonl:2: prompt_id 'p1' has split 'test' here and 'train' at "
        r"\S*log\.jsonl:1 \(field 'split'\)",
    ):
        _build(tmp_path, rows, catalog)


def test_a_prompt_takes_the_split_its_rows_name(
    tmp_path: Path, catalog: Catalog, texts: list[str]
) -> None:
    rows = [
        _row("p1", texts[0], "a"),
        _row("p1", texts[0], "b", split="Test"),
        _row("p2", texts[1], "a", split="train"),
        _row("p2", texts[1], "b", split=" TRAIN"),
    ]
    assert _build(tmp_path, rows, catalog).splits == ["test", "train"]


def _chat(system: str, history: str, question: str) -> list[dict]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": history},
        {"role": "assistant", "content": "I see."},
        {"role": "user", "content": question},
    ]


def test_a_conversation_is_embedded_as_served_and_costed_on_every_turn(
    tmp_path: Path, catalog: Catalog, texts: list[str]
) -> None:
    chat = _chat("Answer briefly.", texts[0], texts[1])
    dataset = _build(tmp_path, [_row("c1", chat, "a"), _row("c1", chat, "b")], catalog)
    whole = f"Answer briefly.\n\n{texts[0]}\n\nI see.\n\n{texts[1]}"
    assert (dataset.prompts, dataset.cost_texts) == ([f"{texts[1]}\n\nAnswer briefly."], [whole])
    expected = CostRule().estimate(np.array([len(whole)]), catalog, ["a", "b"])
    np.testing.assert_allclose(dataset.estimated_costs, expected, rtol=1e-9)
    np.testing.assert_allclose(dataset.costs, expected, rtol=1e-9)


def test_one_prompt_id_with_two_histories_is_refused(
    tmp_path: Path, catalog: Catalog, texts: list[str]
) -> None:
    """The same embedded text, but not the same conversation: its cost estimate differs."""
    rows = [
        _row("c1", _chat("Answer briefly.", texts[0], texts[1]), "a"),
        _row("c1", _chat("Answer briefly.", texts[2], texts[1]), "b"),
    ]
    with pytest.raises(
        DataError,
        match=r"log\.jsonl:2: prompt_id 'c1' has a different prompt text than at \S*log\.jsonl:1",
    ):
        _build(tmp_path, rows, catalog)
