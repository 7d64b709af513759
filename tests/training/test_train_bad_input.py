"""``router-ml train`` on bad input: exit 1, one ``Error:`` line naming file, line and field,
and the registry left exactly as it was."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import first_prompts, registry_state, write_jsonl

from router_ml import cli
from router_ml.artifact.registry import registry_lock
from router_ml.data.catalog import load_catalog

Case = tuple[list[str], str]  # (train arguments other than --out, pattern of the error line)


@pytest.fixture(scope="module")
def rows(sample_rows: list[dict]) -> list[dict]:
    """Three real prompts with all nine models' outcomes, one line each in JSON and in CSV."""
    flat = [r for r in sample_rows if not set(r["prompt"]) & set('\n",')]
    return [
        {k: r[k] for k in ("prompt_id", "prompt", "model", "score")} for r in first_prompts(flat, 3)
    ]


@pytest.fixture(scope="module")
def prices(catalog_path: Path) -> list[tuple[str, float, float]]:
    return [
        (m.name, m.input_per_mtok, m.output_per_mtok)
        for m in load_catalog(catalog_path).models.values()
    ]


@pytest.fixture
def registry(tmp_path: Path, trained_registry: Path) -> Path:
    return Path(shutil.copytree(trained_registry, tmp_path / "registry", symlinks=True))


def _catalog(path: Path, prices: list[tuple[str, float, float]], edit: dict[int, str]) -> Path:
    """Four lines per model, so model i's header is line 4i + 1; ``edit`` replaces model i's block."""
    blocks = [
        f'[models."{name}"]\ninput_per_mtok = {i}\noutput_per_mtok = {o}\n' for name, i, o in prices
    ]
    for index, block in edit.items():
        blocks[index] = f'[models."{prices[index][0]}"]\n{block}'
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _json_lines(rows: list[dict]) -> list[str]:
    return [json.dumps(r) for r in rows]


def _csv_lines(rows: list[dict]) -> list[str]:
    return [",".join(rows[0]), *(",".join(str(v) for v in r.values()) for r in rows)]


def _args(data: Path, catalog: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--catalog", str(catalog), *extra]


def missing_file(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    return _args(tmp / "absent.jsonl", catalog), r"absent\.jsonl: evaluation log does not exist"


def empty_file(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    return _args(
        _write_lines(tmp / "empty.jsonl", []), catalog
    ), r"empty\.jsonl: evaluation log is empty"


def header_only_csv(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    log = _write_lines(tmp / "log.csv", _csv_lines(rows)[:1])
    return _args(log, catalog), r"log\.csv: evaluation log is empty"


def malformed_json(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    lines = _json_lines(rows)
    lines[4] = lines[4][:40]
    return _args(_write_lines(tmp / "log.jsonl", lines), catalog), r"log\.jsonl:5: malformed JSON"


def json_not_an_object(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    lines = _json_lines(rows)
    lines[1] = "[1, 2]"
    log = _write_lines(tmp / "log.jsonl", lines)
    return _args(log, catalog), r"log\.jsonl:2: each line must be a JSON object"


def csv_row_too_long(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    lines = _csv_lines(rows)
    lines[3] += ",extra"
    log = _write_lines(tmp / "log.csv", lines)
    return _args(log, catalog), r"log\.csv:4: malformed CSV row: expected 4 fields, got 5"


def csv_unterminated_quote(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    lines = _csv_lines(rows)
    lines[5] = lines[5].replace(",", ',"', 1)
    log = _write_lines(tmp / "log.csv", lines)
    return _args(log, catalog), r"log\.csv:6: malformed CSV: unexpected end of data"


def missing_column(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    edited = [{k: v for k, v in r.items() if i != 2 or k != "score"} for i, r in enumerate(rows)]
    log = write_jsonl(tmp / "log.jsonl", edited)
    return _args(log, catalog), r"log\.jsonl:3: missing column \(field 'score'\)"


def missing_csv_column(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    log = _write_lines(
        tmp / "log.csv", _csv_lines([{k: v for k, v in r.items() if k != "score"} for r in rows])
    )
    return _args(log, catalog), r"log\.csv:2: missing column \(field 'score'\)"


def _score_case(tmp: Path, rows: list[dict], catalog: Path, line: int, score: object, suffix: str):
    edited = [{**r, "score": score} if i == line - 1 else r for i, r in enumerate(rows)]
    if suffix == ".csv":
        return _args(_write_lines(tmp / "log.csv", _csv_lines(edited)), catalog)
    return _args(write_jsonl(tmp / "log.jsonl", edited), catalog)


def score_not_a_number(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    args = _score_case(tmp, rows, catalog, 6, "high", ".jsonl")
    return args, r"log\.jsonl:6: not a number: 'high' \(field 'score'\)"


def score_infinite_json(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    args = _score_case(tmp, rows, catalog, 2, math.inf, ".jsonl")
    return args, r"log\.jsonl:2: not a finite number: inf \(field 'score'\)"


def score_infinite_csv(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    args = _score_case(tmp, rows, catalog, 3, "-inf", ".csv")
    return args, r"log\.csv:4: not a finite number: '-inf' \(field 'score'\)"


def score_above_scale(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    args = _score_case(tmp, rows, catalog, 7, 1.5, ".jsonl")
    return (
        args,
        r"log\.jsonl:7: score 1\.5 is outside the declared scale \[0\.0, 1\.0\] \(field 'score'\)",
    )


def score_below_declared_scale(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    args = [*_score_case(tmp, rows, catalog, 8, -1, ".jsonl"), "--score-scale", "0,10"]
    return args, r"log\.jsonl:8: score -1\.0 is outside the declared scale \[0\.0, 10\.0\]"


def conflicting_duplicate(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    first = rows[0]
    log = write_jsonl(tmp / "log.jsonl", [*rows, {**first, "score": 1 - first["score"]}])
    pattern = (
        rf"log\.jsonl:28: duplicate \(prompt_id '{first['prompt_id']}', model '{re.escape(first['model'])}'\)"
        rf" with score .* at \S+log\.jsonl:1 \(field 'score'\)"
    )
    return _args(log, catalog), pattern


def models_not_in_catalog(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    renamed = {rows[3]["model"]: "gpt-x", rows[5]["model"]: "gpt-y"}
    log = write_jsonl(
        tmp / "log.jsonl", [{**r, "model": renamed.get(r["model"], r["model"])} for r in rows]
    )
    pattern = r"2 model\(s\) .* absent from the catalog: 'gpt-x' \(first at \S+:4\), 'gpt-y' \(first at \S+:6\)"
    return _args(log, catalog), pattern


def nothing_complete(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    models = list(dict.fromkeys(r["model"] for r in rows))
    ids = list(dict.fromkeys(r["prompt_id"] for r in rows))
    partial = [r for r in rows if r["model"] != models[ids.index(r["prompt_id"])]]
    log = write_jsonl(tmp / "log.jsonl", partial)
    pattern = rf"log\.jsonl:1: no prompt has outcomes for all 9 models.* prompt_id '{ids[0]}' has none for"
    return _args(log, catalog), pattern


def missing_catalog(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    log = write_jsonl(tmp / "log.jsonl", rows)
    return _args(log, tmp / "absent.toml"), r"absent\.toml: catalog file does not exist"


def log_is_a_folder(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    (tmp / "logs").mkdir()
    return _args(tmp / "logs", catalog), r"logs: is a folder; expected the evaluation log"


def catalog_is_a_folder(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    log = write_jsonl(tmp / "log.jsonl", rows)
    return _args(log, tmp), rf"{re.escape(str(tmp))}: is a folder; expected the catalog file"


def encoder_missing(tmp: Path, rows: list[dict], catalog: Path) -> Case:
    log = write_jsonl(tmp / "log.jsonl", rows)
    return _args(
        log, catalog, "--encoder", "/nonexistent"
    ), r"encoder folder does not exist: /nonexistent"


LOG_CASES = [
    missing_file,
    empty_file,
    header_only_csv,
    malformed_json,
    json_not_an_object,
    csv_row_too_long,
    csv_unterminated_quote,
    missing_column,
    missing_csv_column,
    score_not_a_number,
    score_infinite_json,
    score_infinite_csv,
    score_above_scale,
    score_below_declared_scale,
    conflicting_duplicate,
    models_not_in_catalog,
    nothing_complete,
    missing_catalog,
    log_is_a_folder,
    catalog_is_a_folder,
    encoder_missing,
]

# (model index, replacement block, pattern); model i's header is on line 4i + 1.
CATALOG_CASES = [
    pytest.param(
        2,
        "input_per_mtok = -0.1\noutput_per_mtok = 0.2\n",
        r"catalog\.toml:9: model '{name}' price must be >= 0, got -0\.1 \(field 'input_per_mtok'\)",
        id="negative-price",
    ),
    pytest.param(
        4,
        "input_per_mtok = 0.2\n",
        r"catalog\.toml:17: model '{name}' has no price \(field 'output_per_mtok'\)",
        id="missing-price",
    ),
    pytest.param(
        0,
        'input_per_mtok = "cheap"\noutput_per_mtok = 0.2\n',
        r"catalog\.toml:1: model '{name}' price must be a number, got 'cheap' \(field 'input_per_mtok'\)",
        id="price-not-a-number",
    ),
]


def _train(registry: Path, cache_dir: Path, args: list[str]) -> int:
    return cli.main(
        ["train", *args, "--out", str(registry), "--cache-dir", str(cache_dir), "--no-progress"]
    )


def _assert_one_error_line(stderr: str, pattern: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("case", LOG_CASES, ids=lambda c: c.__name__.replace("_", "-"))
def test_bad_input_fails_cleanly(
    case,
    tmp_path: Path,
    rows: list[dict],
    catalog_path: Path,
    registry: Path,
    cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, pattern = case(tmp_path, rows, catalog_path)
    before = registry_state(registry)
    assert _train(registry, cache_dir, args) == 1
    _assert_one_error_line(capsys.readouterr().err, pattern)
    assert registry_state(registry) == before


@pytest.mark.parametrize(("index", "block", "pattern"), CATALOG_CASES)
def test_bad_catalog_fails_cleanly(
    index: int,
    block: str,
    pattern: str,
    tmp_path: Path,
    rows: list[dict],
    prices: list[tuple[str, float, float]],
    registry: Path,
    cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = _catalog(tmp_path / "catalog.toml", prices, {index: block})
    before = registry_state(registry)
    assert (
        _train(registry, cache_dir, _args(write_jsonl(tmp_path / "log.jsonl", rows), catalog)) == 1
    )
    _assert_one_error_line(
        capsys.readouterr().err, pattern.format(name=re.escape(prices[index][0]))
    )
    assert registry_state(registry) == before


def test_the_hand_made_catalog_is_valid(
    tmp_path: Path, prices: list[tuple[str, float, float]]
) -> None:
    catalog = load_catalog(_catalog(tmp_path / "catalog.toml", prices, {}))
    assert [
        (m.name, m.input_per_mtok, m.output_per_mtok) for m in catalog.models.values()
    ] == prices


@pytest.mark.parametrize("case", [encoder_missing, malformed_json], ids=lambda c: c.__name__)
def test_installed_command_fails_cleanly(
    case, tmp_path: Path, rows: list[dict], catalog_path: Path
) -> None:
    args, pattern = case(tmp_path, rows, catalog_path)
    out = tmp_path / "fresh-registry"
    command = [str(Path(sys.executable).parent / "router-ml"), "train", *args, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    _assert_one_error_line(done.stderr, pattern)
    assert not out.exists()


def test_encoder_length_beyond_its_positions_fails_cleanly(
    tmp_path: Path,
    small_rows: list[dict],
    catalog_path: Path,
    registry: Path,
    cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", small_rows)
    before = registry_state(registry)
    assert _train(registry, cache_dir, [*_args(log, catalog_path), "--max-seq-length", "600"]) == 1
    pattern = r"max_seq_length must be between 1 and the 512 positions of \S+, got 600"
    _assert_one_error_line(capsys.readouterr().err, pattern)
    assert registry_state(registry) == before


def test_train_into_a_locked_registry_exits_75_before_embedding(
    tmp_path: Path,
    small_rows: list[dict],
    catalog_path: Path,
    registry: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fresh_cache = tmp_path / "cache"
    before = registry_state(registry)
    with registry_lock(registry):
        code = _train(
            registry,
            fresh_cache,
            _args(write_jsonl(tmp_path / "log.jsonl", small_rows), catalog_path),
        )
    assert code == 75
    _assert_one_error_line(
        capsys.readouterr().err, rf"{re.escape(str(registry))} is locked by pid {os.getpid()}"
    )
    assert registry_state(registry) == before
    assert not [p for p in fresh_cache.rglob("*") if p.is_file()]  # nothing was embedded


@pytest.mark.parametrize("below", [False, True], ids=["the-file", "a-path-below-it"])
def test_train_into_a_file_fails_before_embedding(
    below: bool,
    tmp_path: Path,
    small_rows: list[dict],
    catalog_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    in_the_way = tmp_path / "registry"
    in_the_way.write_text("not a folder\n", encoding="utf-8")
    out = in_the_way / "sub" if below else in_the_way
    fresh_cache = tmp_path / "cache"
    log = write_jsonl(tmp_path / "log.jsonl", small_rows)
    assert _train(out, fresh_cache, _args(log, catalog_path)) == 1
    _assert_one_error_line(
        capsys.readouterr().err, rf"{re.escape(str(in_the_way))}: exists and is not a folder"
    )
    assert in_the_way.read_text(encoding="utf-8") == "not a folder\n"
    assert not [p for p in fresh_cache.rglob("*") if p.is_file()]  # nothing was embedded


def test_no_score_reaching_the_threshold_fails_before_embedding(
    tmp_path: Path, small_rows: list[dict], catalog_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Graded scores that never reach the default threshold 1.0: no label to learn."""
    graded = [{**r, "score": 0.9 * r["score"]} for r in small_rows]
    fresh_cache = tmp_path / "cache"
    log = write_jsonl(tmp_path / "log.jsonl", graded)
    assert _train(tmp_path / "registry", fresh_cache, _args(log, catalog_path)) == 1
    _assert_one_error_line(
        capsys.readouterr().err,
        r"no score of the \d+ training prompts reaches the threshold 1 \(the highest is 0\.9\).*"
        r"choose a lower --threshold",
    )
    assert not (tmp_path / "registry").exists()
    assert not [p for p in fresh_cache.rglob("*") if p.is_file()]  # nothing was embedded
