"""Evaluation log readers: every format and layout gives the same outcomes as the source rows."""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline_helpers import first_prompts, write_jsonl

from router_ml.client import route_request
from router_ml.data.evallog import Outcome, ScoreScale, read_log, read_logs
from router_ml.data.splits import prompt_hash
from router_ml.errors import DataError
from router_ml.serving.convert import route_input

LONG_FIELDS = ["prompt_id", "prompt", "model", "score", "task"]


@pytest.fixture(scope="module")
def rows(sample_rows: list[dict]) -> list[dict]:
    """Two real prompts with all nine models' outcomes (18 rows)."""
    return [{k: r[k] for k in LONG_FIELDS} for r in first_prompts(sample_rows, 2)]


def _write_csv(path: Path, rows: list[dict]) -> Path:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_jsonl_gz(path: Path, rows: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def _write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


WRITERS: dict[str, Callable[[Path, list[dict]], Path]] = {
    "log.jsonl": write_jsonl,
    "log.jsonl.gz": _write_jsonl_gz,
    "log.csv": _write_csv,
    "log.csv.gz": _write_csv,
    "log.parquet": _write_parquet,
}
BY_SUFFIX = {".csv": _write_csv, ".jsonl": write_jsonl, ".parquet": _write_parquet}


def _triples(outcomes: list[Outcome]) -> list[tuple[str, str, str, float]]:
    return [(o.prompt_id, o.prompt, o.model, o.score) for o in outcomes]


def _source_triples(rows: list[dict]) -> list[tuple[str, str, str, float]]:
    return [(r["prompt_id"], r["prompt"], r["model"], float(r["score"])) for r in rows]


def _wide(
    rows: list[dict],
    *,
    id_field: str = "prompt_id",
    task_field: str = "task",
    cost_suffix: str = "total_cost",
) -> list[dict]:
    """Pivot long rows into the wide layout, with a ``<model>|<cost_suffix>`` column per model."""
    wide: dict[str, dict] = {}
    for i, r in enumerate(rows):
        row = wide.setdefault(
            r["prompt_id"], {id_field: r["prompt_id"], "prompt": r["prompt"], task_field: r["task"]}
        )
        row[r["model"]] = r["score"]
        row[f"{r['model']}|{cost_suffix}"] = 0.001 * (i + 1)
    return list(wide.values())


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_format_reads_the_same_outcomes(tmp_path: Path, rows: list[dict], name: str) -> None:
    outcomes = read_log(WRITERS[name](tmp_path / name, rows))
    assert _triples(outcomes) == _source_triples(rows)
    assert {o.task for o in outcomes} == {r["task"] for r in rows}


@pytest.mark.parametrize("name", ["log.jsonl", "log.jsonl.gz"])
def test_json_outcome_line_is_its_line(tmp_path: Path, rows: list[dict], name: str) -> None:
    path = WRITERS[name](tmp_path / name, rows)
    with (gzip.open if name.endswith(".gz") else open)(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for outcome in read_log(path):
        row = json.loads(lines[outcome.line - 1])
        assert (row["prompt_id"], row["model"]) == (outcome.prompt_id, outcome.model)


@pytest.mark.parametrize("name", ["log.csv", "log.csv.gz"])
def test_csv_outcome_line_is_where_its_record_starts(
    tmp_path: Path, rows: list[dict], name: str
) -> None:
    assert any("\n" in r["prompt"] for r in rows), "needs prompts that span several lines"
    path = WRITERS[name](tmp_path / name, rows)
    with (gzip.open if name.endswith(".gz") else open)(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    outcomes = read_log(path)
    assert outcomes[-1].line > len(rows) + 1
    for outcome in outcomes:
        assert lines[outcome.line - 1].startswith(f"{outcome.prompt_id},")


def test_parquet_rows_are_numbered_from_one(tmp_path: Path, rows: list[dict]) -> None:
    outcomes = read_log(_write_parquet(tmp_path / "log.parquet", rows))
    assert [o.line for o in outcomes] == list(range(1, len(rows) + 1))


@pytest.mark.parametrize("layout", ["auto", "wide"])
@pytest.mark.parametrize("name", ["wide.csv", "wide.jsonl", "wide.parquet"])
def test_wide_layout_matches_long(tmp_path: Path, rows: list[dict], layout: str, name: str) -> None:
    path = BY_SUFFIX[Path(name).suffix](tmp_path / name, _wide(rows))
    outcomes = read_log(path, layout=layout)
    assert sorted(_triples(outcomes)) == sorted(_source_triples(rows))
    assert sorted(o.cost_usd for o in outcomes) == pytest.approx(
        [0.001 * (i + 1) for i in range(len(rows))]
    )


def test_routerbench_columns(tmp_path: Path, rows: list[dict]) -> None:
    wide = _wide(rows, id_field="sample_id", task_field="eval_name")
    for row in wide:
        row["oracle_model_to_route_to"] = rows[0]["model"]
        row[f"{rows[0]['model']}|model_response"] = "some answer"
    outcomes = read_log(_write_csv(tmp_path / "routerbench.csv", wide))
    assert sorted(_triples(outcomes)) == sorted(_source_triples(rows))
    assert {o.task for o in outcomes} == {r["task"] for r in rows}


def test_long_layout_forced_on_a_wide_log_names_the_missing_column(
    tmp_path: Path, rows: list[dict]
) -> None:
    path = _write_csv(tmp_path / "wide.csv", _wide(rows))
    with pytest.raises(DataError, match=r"wide\.csv:2: missing column \(field 'model'\)"):
        read_log(path, layout="long")


def test_several_files_are_concatenated_in_order(tmp_path: Path, rows: list[dict]) -> None:
    half = len(rows) // 2
    first = write_jsonl(tmp_path / "a.jsonl", rows[:half])
    second = _write_csv(tmp_path / "b.csv", rows[half:])
    outcomes = read_logs([first, second])
    assert _triples(outcomes) == _source_triples(rows)
    assert {o.path for o in outcomes[half:]} == {str(second)}


@pytest.fixture
def local_zone_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to UTC-5, so a zone-less time read as local would show."""
    monkeypatch.setenv("TZ", "EST+05")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-03-01T12:00:00+00:00",
        "2024-03-01T12:00:00Z",
        "2024-03-01T13:00:00+01:00",
        "2024-03-01T12:00:00",
        "2024-03-01 12:00:00",
        1709294400,
        1709294400.0,
        "1709294400",
        1709294400_000,
        "1709294400000",
        1709294400_000_000,
        1709294400_000_000_000,
    ],
)
def test_timestamps_iso_and_epoch(
    tmp_path: Path, rows: list[dict], stamp: object, local_zone_not_utc: None
) -> None:
    path = write_jsonl(tmp_path / "log.jsonl", [{**r, "timestamp": stamp} for r in rows])
    assert {o.timestamp for o in read_log(path)} == {1709294400.0}


@pytest.mark.parametrize("zone", [UTC, None], ids=["utc", "naive"])
def test_parquet_native_timestamps(
    tmp_path: Path, rows: list[dict], zone: UTC | None, local_zone_not_utc: None
) -> None:
    stamp = datetime(2024, 3, 1, 12, tzinfo=zone)
    path = _write_parquet(tmp_path / "log.parquet", [{**r, "timestamp": stamp} for r in rows])
    assert {o.timestamp for o in read_log(path)} == {1709294400.0}


def test_bad_timestamp_names_line_and_field(tmp_path: Path, rows: list[dict]) -> None:
    bad = [{**r, "timestamp": "yesterday" if i == 3 else 0} for i, r in enumerate(rows)]
    with pytest.raises(DataError, match=r"log\.jsonl:4: .*'yesterday' \(field 'timestamp'\)"):
        read_log(write_jsonl(tmp_path / "log.jsonl", bad))


def test_score_scale_normalises_to_unit_range(tmp_path: Path, rows: list[dict]) -> None:
    graded = [{**r, "score": i % 11} for i, r in enumerate(rows)]
    outcomes = read_log(write_jsonl(tmp_path / "log.jsonl", graded), scale=ScoreScale(0, 10))
    assert [o.score for o in outcomes] == pytest.approx([(i % 11) / 10 for i in range(len(rows))])


def test_score_above_the_declared_scale_is_refused(tmp_path: Path, rows: list[dict]) -> None:
    graded = [{**r, "score": 10.5 if i == 5 else 10} for i, r in enumerate(rows)]
    with pytest.raises(DataError, match=r"log\.jsonl:6: score 10\.5 is outside .*\[0, 10\]"):
        read_log(write_jsonl(tmp_path / "log.jsonl", graded), scale=ScoreScale(0, 10))


def test_tokens_and_cost_are_read(tmp_path: Path, rows: list[dict]) -> None:
    logged = [{**rows[0], "input_tokens": 120, "output_tokens": 30, "cost_usd": 0.25}]
    (outcome,) = read_log(_write_csv(tmp_path / "log.csv", logged))
    assert (outcome.input_tokens, outcome.output_tokens, outcome.cost_usd) == (120, 30, 0.25)


def test_negative_cost_is_refused(tmp_path: Path, rows: list[dict]) -> None:
    logged = [{**rows[0], "cost_usd": -1}]
    with pytest.raises(DataError, match=r"log\.jsonl:1: must be >= 0.*\(field 'cost_usd'\)"):
        read_log(write_jsonl(tmp_path / "log.jsonl", logged))


@pytest.mark.parametrize("name", ["log.txt", "log.parquet.gz"])
def test_unknown_suffix_is_refused(tmp_path: Path, rows: list[dict], name: str) -> None:
    path = write_jsonl(tmp_path / name, rows)
    suffix = re.escape(name.removeprefix("log"))
    with pytest.raises(
        DataError,
        match=rf"{re.escape(name)}: unknown log format '{suffix}'; expected one of "
        r"\.jsonl, \.jsonl\.gz, .*\.csv\.gz, \.parquet$",
    ):
        read_log(path)


@pytest.mark.parametrize("name", ["log.csv", "log.csv.gz", "log.jsonl", "log.jsonl.gz"])
def test_a_byte_order_mark_is_ignored(tmp_path: Path, rows: list[dict], name: str) -> None:
    """Excel's "CSV UTF-8" and pandas' ``encoding='utf-8-sig'`` start the file with U+FEFF."""
    path = WRITERS[name](tmp_path / name, rows)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        text = handle.read()
    with opener(path, "wt", encoding="utf-8-sig", newline="") as handle:
        handle.write(text)
    assert _triples(read_log(path)) == _source_triples(rows)


@pytest.mark.parametrize(
    ("name", "passed", "failed"),
    [
        ("log.jsonl", True, False),
        ("log.parquet", True, False),
        ("log.csv", "True", "False"),
        ("log.csv.gz", "TRUE", " false "),
    ],
)
@pytest.mark.parametrize("scale", [ScoreScale(), ScoreScale(0, 10)], ids=["0-1", "0-10"])
def test_boolean_scores_are_pass_and_fail(
    tmp_path: Path, rows: list[dict], name: str, passed: object, failed: object, scale: ScoreScale
) -> None:
    judged = [{**r, "score": passed if i % 2 else failed} for i, r in enumerate(rows)]
    outcomes = read_log(WRITERS[name](tmp_path / name, judged), scale=scale)
    assert [o.score for o in outcomes] == [float(i % 2) for i in range(len(rows))]


def test_a_boolean_is_still_not_a_cost(tmp_path: Path, rows: list[dict]) -> None:
    logged = [{**rows[0], "cost_usd": True}]
    with pytest.raises(DataError, match=r"log\.jsonl:1: not a number: True \(field 'cost_usd'\)"):
        read_log(write_jsonl(tmp_path / "log.jsonl", logged))


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ("wide.jsonl", math.nan),
        ("wide.parquet", math.nan),
        ("wide.csv", "NaN"),
        ("wide.csv", "NA"),
        ("wide.csv", "nan"),
        ("wide.csv", ""),
    ],
)
def test_a_wide_nan_cell_is_a_missing_outcome(
    tmp_path: Path, rows: list[dict], name: str, cell: object
) -> None:
    wide = _wide(rows)
    model = rows[0]["model"]
    wide[0][model] = cell
    outcomes = read_log(BY_SUFFIX[Path(name).suffix](tmp_path / name, wide))
    missing = (rows[0]["prompt_id"], model)
    assert sorted((o.prompt_id, o.model) for o in outcomes) == sorted(
        (r["prompt_id"], r["model"]) for r in rows if (r["prompt_id"], r["model"]) != missing
    )


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ("log.jsonl", None),
        ("log.jsonl.gz", math.nan),
        ("log.parquet", None),
        ("log.parquet", math.nan),
        ("log.csv", ""),
        ("log.csv", "NaN"),
        ("log.csv.gz", "null"),
    ],
)
def test_a_long_row_without_score_is_a_missing_outcome(
    tmp_path: Path,
    rows: list[dict],
    caplog: pytest.LogCaptureFixture,
    name: str,
    cell: object,
) -> None:
    """As an empty wide cell: the eval did not run for that (prompt, model) pair."""
    unscored = {1, 4}
    logged = [{**r, "score": cell} if i in unscored else r for i, r in enumerate(rows)]
    outcomes = read_log(WRITERS[name](tmp_path / name, logged))
    kept = [r for i, r in enumerate(rows) if i not in unscored]
    assert _triples(outcomes) == _source_triples(kept)
    (record,) = [r for r in caplog.records if r.name == "router_ml.data.evallog"]
    assert record.levelname == "WARNING"
    assert re.fullmatch(
        rf".*{re.escape(name)}: 2 row\(s\) without a score \(empty, NaN or null\) read as "
        "missing outcomes",
        record.getMessage(),
    )


INDEX_AND_PROMPT_COLUMNS = {
    "": 0,
    "Unnamed: 0": 0,
    "index": 0,
    "__index_level_0__": 0,
    "output_tokens": 300,
    "cost_usd": 2.0,
    "gold_answer": "B",
    "answer": "B",
    "reference": "the expected answer",
}


@pytest.mark.parametrize("name", ["wide.csv", "wide.jsonl", "wide.parquet"])
def test_index_and_prompt_level_columns_are_not_models(
    tmp_path: Path, rows: list[dict], name: str
) -> None:
    wide = [{**INDEX_AND_PROMPT_COLUMNS, **r} for r in _wide(rows)]
    outcomes = read_log(BY_SUFFIX[Path(name).suffix](tmp_path / name, wide))
    assert sorted(_triples(outcomes)) == sorted(_source_triples(rows))


def test_a_non_numeric_wide_cell_names_its_column(tmp_path: Path, rows: list[dict]) -> None:
    wide = [{**r, "judge": "B"} for r in _wide(rows)]
    with pytest.raises(
        DataError,
        match=r"wide\.csv:2: wide layout: column 'judge' is taken for a model's score: "
        r"not a number: 'B' \(field 'judge'\)$",
    ):
        read_log(_write_csv(tmp_path / "wide.csv", wide))


def test_an_empty_field_name_is_shown() -> None:
    assert str(DataError("bad", path="log.csv", line=2, field="")) == "log.csv:2: bad (field '')"


@pytest.mark.parametrize("suffix", ["cost_usd", "cost"])
def test_wide_cost_column_names(tmp_path: Path, rows: list[dict], suffix: str) -> None:
    outcomes = read_log(_write_csv(tmp_path / "wide.csv", _wide(rows, cost_suffix=suffix)))
    assert sorted(o.cost_usd for o in outcomes) == pytest.approx(
        [0.001 * (i + 1) for i in range(len(rows))]
    )


def test_two_wide_cost_columns_of_one_model_are_refused(tmp_path: Path, rows: list[dict]) -> None:
    model = rows[0]["model"]
    wide = [{**r, f"{model}|cost": 0.5} for r in _wide(rows)]
    with pytest.raises(
        DataError,
        match=rf"wide\.csv:2: both '{model}\|total_cost' and '{model}\|cost' are given; "
        rf"they name the same field \(field '{model}\|cost'\)",
    ):
        read_log(_write_csv(tmp_path / "wide.csv", wide))


@pytest.mark.parametrize("name", ["log.jsonl", "log.csv"])
@pytest.mark.parametrize("cost", ["cost", "total_cost"])
def test_long_field_aliases(tmp_path: Path, rows: list[dict], name: str, cost: str) -> None:
    logged = [{**rows[0], "prompt_tokens": 120, "completion_tokens": 30, cost: 0.25}]
    (outcome,) = read_log(WRITERS[name](tmp_path / name, logged))
    assert (outcome.input_tokens, outcome.output_tokens, outcome.cost_usd) == (120, 30, 0.25)


@pytest.mark.parametrize(
    ("field", "alias"),
    [
        ("input_tokens", "prompt_tokens"),
        ("output_tokens", "completion_tokens"),
        ("cost_usd", "cost"),
    ],
)
def test_a_field_and_its_alias_in_one_row_are_refused(
    tmp_path: Path, rows: list[dict], field: str, alias: str
) -> None:
    logged = [rows[0], {**rows[1], field: 1, alias: 1}]
    with pytest.raises(
        DataError,
        match=rf"log\.jsonl:2: both '{field}' and '{alias}' are given; they name the same field "
        rf"\(field '{alias}'\)",
    ):
        read_log(write_jsonl(tmp_path / "log.jsonl", logged))


def test_a_cost_column_without_its_score_column_is_named(tmp_path: Path, rows: list[dict]) -> None:
    wide = [{**r, "ghost|cost_usd": 0.5} for r in _wide(rows)]
    with pytest.raises(
        DataError, match=r"wide\.csv:2: column 'ghost\|cost_usd' has no score column beside it"
    ):
        read_log(_write_csv(tmp_path / "wide.csv", wide))


SYSTEM_TURN = "You are a careful grader. Answer with the letter only."


def _chat(question: str) -> list[dict]:
    """A conversation that ends with ``question``, with a system turn and an earlier exchange."""
    return [
        {"role": "system", "content": SYSTEM_TURN},
        {"role": "user", "content": "Are you ready?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": question},
    ]


def _as_logged(messages: object, name: str) -> object:
    """A conversation as a log of format ``name`` holds it: a JSON text in a CSV cell, else a list."""
    return json.dumps(messages) if ".csv" in name else messages


def _with_chats(rows: list[dict], name: str, field: str) -> list[dict]:
    """``rows`` with each prompt logged as a conversation under ``field``."""
    chats = []
    for r in rows:
        chat = {k: v for k, v in r.items() if k != "prompt"}
        chats.append({**chat, field: _as_logged(_chat(r["prompt"]), name)})
    return chats


@pytest.mark.parametrize("field", ["prompt", "messages"])
@pytest.mark.parametrize("name", list(WRITERS))
def test_a_logged_conversation_reads_as_the_server_texts(
    tmp_path: Path, rows: list[dict], name: str, field: str
) -> None:
    outcomes = read_log(WRITERS[name](tmp_path / name, _with_chats(rows, name, field)))
    assert [o.prompt for o in outcomes] == [f"{r['prompt']}\n\n{SYSTEM_TURN}" for r in rows]
    assert [o.cost_text for o in outcomes] == [
        f"{SYSTEM_TURN}\n\nAre you ready?\n\nYes.\n\n{r['prompt']}" for r in rows
    ]


@pytest.mark.parametrize("name", ["wide.csv", "wide.jsonl", "wide.parquet"])
def test_a_wide_log_reads_conversations(tmp_path: Path, rows: list[dict], name: str) -> None:
    wide = [{**r, "prompt": _as_logged(_chat(r["prompt"]), name)} for r in _wide(rows)]
    outcomes = read_log(BY_SUFFIX[Path(name).suffix](tmp_path / name, wide))
    assert {o.prompt for o in outcomes} == {f"{r['prompt']}\n\n{SYSTEM_TURN}" for r in rows}
    assert {o.model for o in outcomes} == {r["model"] for r in rows}


@pytest.mark.parametrize("name", ["log.jsonl", "log.csv"])
def test_openai_content_parts_keep_their_text(tmp_path: Path, rows: list[dict], name: str) -> None:
    parts = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        "this picture.",
    ]
    messages = [{"role": "system", "content": None}, {"role": "user", "content": parts}]
    (outcome,) = read_log(
        WRITERS[name](tmp_path / name, [{**rows[0], "prompt": _as_logged(messages, name)}])
    )
    assert (outcome.prompt, outcome.cost_text) == (
        "Describe\nthis picture.",
        "\n\nDescribe\nthis picture.",
    )


PLAIN_BRACKET_PROMPTS = [
    "[INST] What is 2 + 2? [/INST]",
    "[1, 2, 3] Sort these numbers in descending order.",
    '["a", "b"]',
    '[{"id": 1, "name": "Ada"}] Turn this JSON into a table.',
]


@pytest.mark.parametrize("name", ["log.csv", "log.jsonl"])
def test_only_a_csv_cell_that_starts_like_messages_is_a_conversation(
    tmp_path: Path, rows: list[dict], name: str
) -> None:
    """JSON Lines and Parquet hold a conversation as a list: a text there is always a prompt."""
    chat = json.dumps(_chat("Which is larger, 9.9 or 9.11?"))
    texts = [chat, *PLAIN_BRACKET_PROMPTS]
    logged = [{**rows[0], "prompt_id": f"p{i}", "prompt": t} for i, t in enumerate(texts)]
    prompts = [o.prompt for o in read_log(WRITERS[name](tmp_path / name, logged))]
    read_as = f"Which is larger, 9.9 or 9.11?\n\n{SYSTEM_TURN}" if name == "log.csv" else chat
    assert prompts == [read_as, *PLAIN_BRACKET_PROMPTS]


BAD_CONVERSATIONS = [
    pytest.param(
        "log.jsonl",
        {"prompt": [{"role": "system", "content": "Be brief."}]},
        r"log\.jsonl:2: conversation: no user turn with content \(role 'user'\) \(field 'prompt'\)$",
        id="no-user-turn",
    ),
    pytest.param(
        "log.parquet",
        {"prompt": [{"role": "user", "content": "Hi."}, {"role": "user", "content": " "}]},
        r"log\.parquet:2: conversation: no user turn with content .*\(field 'prompt'\)$",
        id="last-user-turn-empty",
    ),
    pytest.param(
        "log.parquet",
        {"prompt": [{"content": "Hi."}]},
        r"log\.parquet:2: conversation: messages\[0\] needs a role \('system', 'user', "
        r"'assistant', \.\.\.\), got None \(field 'prompt'\)$",
        id="parquet-no-role",
    ),
    pytest.param(
        "log.csv",
        {"messages": '[{"role": "user", "content": "Hi."}, {"content": "And?"}]'},
        r"log\.csv:3: conversation: messages\[1\] needs a role .*\(field 'messages'\)$",
        id="csv-no-role",
    ),
    pytest.param(
        "log.jsonl",
        {"prompt": [{"role": "user", "content": 42}]},
        r"log\.jsonl:2: conversation: messages\[0\]: message content must be text, None or a "
        r"list of parts, got 42 \(field 'prompt'\)$",
        id="content-a-number",
    ),
    pytest.param(
        "log.jsonl",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
        r"log\.jsonl:2: conversation: messages\[0\]: a text part's text must be a string, got 5 "
        r"\(field 'messages'\)$",
        id="text-part-a-number",
    ),
    pytest.param(
        "log.jsonl",
        {"prompt": ["Hi."]},
        r"log\.jsonl:2: conversation: messages\[0\] is not an object: 'Hi\.' \(field 'prompt'\)$",
        id="message-a-text",
    ),
    pytest.param(
        "log.jsonl",
        {"messages": {"role": "user", "content": "Hi."}},
        r"log\.jsonl:2: conversation: expected a list of messages, got dict \(field 'messages'\)$",
        id="messages-an-object",
    ),
    pytest.param(
        "log.csv",
        {"prompt": '[{"role": "user", "content": "Hi."}'},
        r"log\.csv:3: malformed JSON conversation: Expecting ',' delimiter: line 1 column 36 "
        r"\(char 35\) \(field 'prompt'\)$",
        id="csv-truncated-json",
    ),
    pytest.param(
        "log.csv",
        {"messages": "[{'role': 'user', 'content': 'Hi.'}]"},
        r"log\.csv:3: malformed JSON conversation: Expecting property name enclosed in double "
        r"quotes.*\(field 'messages'\)$",
        id="csv-python-repr",
    ),
    pytest.param(
        "log.jsonl",
        {"prompt": "Hi.", "messages": [{"role": "user", "content": "Hi."}]},
        r"log\.jsonl:2: both 'prompt' and 'messages' are given; they name the same field "
        r"\(field 'messages'\)$",
        id="prompt-and-messages",
    ),
]


@pytest.mark.parametrize(("name", "bad", "pattern"), BAD_CONVERSATIONS)
def test_a_bad_conversation_names_file_line_and_field(
    tmp_path: Path, rows: list[dict], name: str, bad: dict, pattern: str
) -> None:
    base = {k: rows[0][k] for k in ("prompt_id", "model", "score")}
    good = {**base, "prompt": _as_logged([{"role": "user", "content": "Say hi."}], name)}
    with pytest.raises(DataError, match=pattern):
        read_log(WRITERS[name](tmp_path / name, [good, {**base, **bad}]))


TEXT_CHAT = [
    {"role": "developer", "content": "Grade strictly."},
    {"role": "system", "content": None},
    {"role": "user", "content": "First question."},
    {"role": "assistant", "content": None},
    {"role": "tool", "content": "42"},
    {"role": "user", "content": "What is 6 x 7?"},
]
#: Parquet wants one type per column: content parts there would have to be parts in every row.
PARTS_CHAT = [
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "a.png"}}, "What?"]},
]


@pytest.mark.parametrize(
    ("name", "messages"),
    [pytest.param(name, TEXT_CHAT, id=f"{name}-text") for name in WRITERS]
    + [
        pytest.param(name, PARTS_CHAT, id=f"{name}-parts")
        for name in WRITERS
        if name != "log.parquet"
    ],
)
def test_training_reads_a_conversation_as_the_server_does(
    tmp_path: Path, rows: list[dict], name: str, messages: list[dict]
) -> None:
    """A conversation logged for training, and the same one sent to the server by the client."""
    logged = {**rows[0], "prompt": _as_logged(messages, name)}
    (outcome,) = read_log(WRITERS[name](tmp_path / name, [logged]))
    served = route_input(route_request(messages=messages), max_prompt_bytes=1 << 20)
    assert (outcome.prompt, outcome.cost_text) == (served.text, served.cost_text)


def test_a_lone_surrogate_in_a_prompt_reads_as_the_client_sends_it(tmp_path: Path) -> None:
    """JSON may escape half a UTF-16 pair ("\\ud800"): the reader repairs it as the client does,
    so the prompt hashes and embeds, and training sees the text the server will be sent."""
    text = "What is \ud800 2 + 2?"
    rows = [{"prompt_id": "p1", "prompt": text, "model": m, "score": 1} for m in ("a", "b")]
    outcomes = read_log(write_jsonl(tmp_path / "log.jsonl", rows))
    assert {o.prompt for o in outcomes} == {route_request(text).prompt}
    assert {len(prompt_hash(o.prompt)) for o in outcomes} == {64}
