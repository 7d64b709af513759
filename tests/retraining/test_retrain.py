"""``router-ml retrain`` end to end on real prompts: three days of logs arriving, one kill -9.

The story, one module-scoped registry:

1. Day 1: prompts P1 with corrupted labels (every score flipped). The registry is empty, so the
   first challenger is promoted (v1: a bad champion).
2. Day 2: P1 evaluated again, correctly (later outcomes replace the corrupted ones), and new
   prompts P2, the latest, so they are the held-out side. The catalog drops one model, prices
   another differently and adds a model with only a few outcomes. The good challenger beats v1
   and is promoted (v2).
3. Day 3: P1 and P2 re-evaluated with corrupted labels, and new prompts P3 (the held-out side,
   correct). A first attempt is killed with SIGKILL while it writes its version; the next run
   cleans up, and its challenger (trained on corrupted labels) loses to v2: rejected (v3).

Old logs outside the 30-day window (one timed, one untimed with an old mtime) are never used.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline_helpers import write_jsonl
from retrain_helpers import (
    DAY,
    edited_catalog,
    read_record,
    rows_of,
    run_cli,
    shuffled_ids,
    stamped,
    write_catalog,
)

from router_ml import Router
from router_ml.artifact.manifest import read_verified
from router_ml.artifact.registry import (
    CURRENT,
    GATE_FIELD,
    STAGING_PREFIX,
    current_version,
    list_versions,
    registry_lock,
)
from router_ml.data.catalog import load_catalog
from router_ml.data.splits import prompt_hash
from router_ml.retraining.history import MIN_MODEL_PROMPTS

N_OLD, N1, N2, N3 = 8, 96, 24, 30
RETIRED = "codegemma-7b"
REPRICED = "gemma-2-9b-it"
NEWCOMER = "newcomer-1b"
KILL_TIMEOUT = 240


@dataclass(frozen=True)
class Run:
    registry: Path
    code: int
    stdout: str
    stderr: str
    version: str | None

    @property
    def record(self) -> dict:
        return read_record(self.registry / self.version)


@dataclass(frozen=True)
class Story:
    registry: Path
    history: Path
    cache: Path
    ids: dict[str, list[str]]
    runs: list[Run]
    killed: dict


def _retrain(registry: Path, history: Path, cache: Path, *extra: str) -> Run:
    before = set(list_versions(registry))
    argv = ["retrain", "--registry", str(registry), "--history", str(history)]
    code, out, err = run_cli([*argv, "--cache-dir", str(cache), "--no-progress", *extra])
    new = sorted(set(list_versions(registry)) - before)
    return Run(registry, code, out, err, new[0] if new else None)


def _kill_while_writing(registry: Path, history: Path, cache: Path) -> dict:
    """Run retrain as a subprocess, SIGKILL it as soon as its staging folder appears."""
    command = [sys.executable, "-m", "router_ml.cli", "retrain", "--registry", str(registry)]
    command += ["--history", str(history), "--cache-dir", str(cache), "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as p:
        deadline = time.monotonic() + KILL_TIMEOUT
        staged: list[str] = []
        while not staged and p.poll() is None and time.monotonic() < deadline:
            staged = [e.name for e in registry.iterdir() if e.name.startswith(STAGING_PREFIX)]
            time.sleep(0.005)
        p.send_signal(signal.SIGKILL)
        code = p.wait(timeout=30)
    return {
        "code": code,
        "staged": staged,
        "current": current_version(registry),
        "versions": list_versions(registry),
        "leftovers": sorted(e.name for e in registry.iterdir() if e.name.startswith(".staging")),
    }


@pytest.fixture(scope="module")
def story(
    tmp_path_factory: pytest.TempPathFactory,
    sample_rows: list[dict],
    catalog_path: Path,
    cache_dir: Path,
) -> Story:
    root = tmp_path_factory.mktemp("retrain-story")
    registry, history = root / "models", root / "history"
    history.mkdir()
    order = shuffled_ids(sample_rows)
    cuts = [0, N_OLD, 2 * N_OLD, 2 * N_OLD + N1, 2 * N_OLD + N1 + N2, 2 * N_OLD + N1 + N2 + N3]
    ids = dict(
        zip(
            ["old", "untimed", "p1", "p2", "p3"],
            (order[a:b] for a, b in itertools.pairwise(cuts)),
            strict=True,
        )
    )
    rows = {name: rows_of(sample_rows, group) for name, group in ids.items()}
    now = time.time()
    write_jsonl(history / "0-old.jsonl", stamped(rows["old"], now - 60 * DAY))
    untimed = write_jsonl(history / "0-untimed.jsonl", stamped(rows["untimed"], None))
    os.utime(untimed, (now - 45 * DAY, now - 45 * DAY))
    write_jsonl(history / "day1.jsonl", stamped(rows["p1"], now - 9 * DAY, flip=True))
    runs = [_retrain(registry, history, cache_dir, "--catalog", str(catalog_path))]

    newcomer = [{**r, "model": NEWCOMER} for r in rows["p2"] if r["model"] == REPRICED][:10]
    write_jsonl(
        history / "day2.jsonl",
        stamped(rows["p1"], now - 6 * DAY) + stamped(rows["p2"] + newcomer, now - 5 * DAY),
    )
    catalog2 = edited_catalog(
        load_catalog(catalog_path),
        drop=(RETIRED,),
        add=(NEWCOMER,),
        prices={REPRICED: (0.15, 0.12)},
    )
    runs.append(
        _retrain(
            registry,
            history,
            cache_dir,
            "--catalog",
            str(write_catalog(root / "catalog2.toml", catalog2)),
        )
    )

    write_jsonl(
        history / "day3.jsonl",
        stamped(rows["p1"] + rows["p2"], now - 3 * DAY, flip=True)
        + stamped(rows["p3"], now - 1 * DAY),
    )
    killed = _kill_while_writing(registry, history, cache_dir)
    os.symlink(
        "gone", registry / f".{CURRENT}-deadbeef"
    )  # a link temp file of a killed set_current
    runs.append(_retrain(registry, history, cache_dir, "--keep", "1"))
    return Story(registry, history, cache_dir, ids, runs, killed)


def test_first_challenger_on_an_empty_registry_is_promoted(story: Story) -> None:
    first = story.runs[0]
    assert first.code == 0
    assert first.stdout.startswith(f"promoted {first.version} (champion was none): no champion yet")
    record = first.record
    assert (record["decision"], record["champion"], record["drift"]) == ("promoted", None, None)
    assert record["gate"]["champion"] is None


def _texts(story: Story, group: str) -> list[str]:
    """The prompt texts of one group of the story, in sorted order."""
    ids = set(story.ids[group])
    texts = {
        row["prompt"]
        for path in story.history.glob("*.jsonl")
        for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())
        if row["prompt_id"] in ids
    }
    return sorted(texts)


def _trained(story: Story, run: int) -> set[str]:
    return Router.load(story.registry / story.runs[run].version).training_prompt_hashes()


def test_window_leaves_out_old_rows_timed_or_by_mtime(story: Story) -> None:
    record = story.runs[0].record
    assert record["window"]["rows_outside_window"] == 2 * N_OLD * 9
    assert record["window"]["rows_timed_by_file_mtime"] == N_OLD * 9
    assert record["prompts"]["in_window"] == N1
    old = {prompt_hash(p) for group in ("old", "untimed") for p in _texts(story, group)}
    assert len(old) == 2 * N_OLD
    assert not old & _trained(story, 0)


def test_good_challenger_beats_the_corrupted_champion(story: Story) -> None:
    first, second = story.runs[:2]
    assert second.code == 0
    assert second.stdout.startswith(
        f"promoted {second.version} (champion was {first.version}): not worse"
    )
    record = second.record
    champion, challenger = record["gate"]["champion"], record["gate"]["challenger"]
    assert challenger["at_default"]["quality"] > champion["at_default"]["quality"] + 0.1
    assert [c["passed"] for c in record["gate"]["checks"]] == [True, True]
    assert record["decision"] == "promoted"


def test_later_outcomes_replace_earlier_ones(story: Story) -> None:
    second = story.runs[1].record
    assert second["window"]["rows_superseded"] == N1 * 9
    assert second["prompts"]["in_window"] == N1 + N2
    assert second["prompts"]["gate"] == N2  # the latest prompts, never seen by the champion


def test_models_left_out_removed_and_repriced_are_recorded(story: Story) -> None:
    models = story.runs[1].record["models"]
    assert models["removed"] == {RETIRED: "not in the catalog"}
    assert models["left_out_not_in_catalog"] == {RETIRED: N1 + N2}  # one per prompt, deduplicated
    assert f"at least {MIN_MODEL_PROMPTS} prompts" in models["left_out_too_few_outcomes"][NEWCOMER]
    assert models["new"] == []
    assert story.runs[1].record["price_changes"] == [
        {"model": REPRICED, "input_per_mtok": [0.1, 0.15], "output_per_mtok": [0.1, 0.12]}
    ]


def test_a_model_removed_from_the_catalog_is_never_recommended_after_promotion(
    story: Story,
) -> None:
    promoted = Router.load(story.registry / story.runs[1].version)
    assert RETIRED not in promoted.models
    assert NEWCOMER not in promoted.models
    decisions = promoted.route_many(_texts(story, "p3"), min_confidence=0.0)
    assert all(d.model != RETIRED for d in decisions)
    assert all(e.model != RETIRED for d in decisions for e in d.ranked)


def test_kill_9_mid_write_leaves_current_and_versions_intact(story: Story) -> None:
    killed = story.killed
    assert killed["code"] == -signal.SIGKILL
    assert killed["staged"], "the run was killed before it staged a version"
    assert killed["current"] == story.runs[1].version
    assert killed["versions"] == [story.runs[0].version, story.runs[1].version]
    assert killed["leftovers"]
    for version in killed["versions"]:
        read_verified(story.registry / version)


def test_next_run_cleans_the_leftovers_of_the_killed_one(story: Story) -> None:
    names = [e.name for e in story.registry.iterdir()]
    assert not [n for n in names if n.startswith((STAGING_PREFIX, f".{CURRENT}-"))]


def test_challenger_on_corrupted_labels_is_rejected_and_kept(story: Story) -> None:
    second, third = story.runs[1:]
    assert third.code == 3
    assert third.stdout.startswith(
        f"kept {second.version}; challenger {third.version} rejected: worse than the champion"
    )
    assert current_version(story.registry) == second.version
    record = third.record
    assert record["decision"] == "rejected"
    assert record["prompts"]["gate"] == N3
    assert not record["gate"]["checks"][0]["passed"]
    manifest = read_verified(story.registry / third.version)
    assert manifest[GATE_FIELD]["decision"] == "rejected"
    assert manifest[GATE_FIELD]["reason"] == record["reason"]
    assert {"decision.json", "DECISION.md"} <= set(manifest["files"])


def test_decision_markdown_summarises_the_record(story: Story) -> None:
    third = story.runs[2]
    text = (story.registry / third.version / "DECISION.md").read_text(encoding="utf-8")
    assert text.startswith(
        f"# Retrain {third.version}: rejected\n\n**Rejected**: worse than the champion"
    )
    for needle in (
        "| quality at default min_confidence |",
        "## Data",
        "## Drift",
        f"{N3} fresh held-out prompts",
        f"{third.record['prompts']['dropped_train_overlap']} training prompts dropped",
    ):
        assert needle in text


def test_drift_is_measured_against_the_champions_training_prompts(story: Story) -> None:
    drift = story.runs[1].record["drift"]
    assert drift["n_new"] == N1 + N2 - len(_trained(story, 0))
    assert drift["n_reference"] == len(_trained(story, 0))
    assert not drift["flagged"]


def test_pruning_never_removes_current_or_its_rollback_target(story: Story) -> None:
    assert story.runs[2].stdout.count("pruned") == 0
    assert list_versions(story.registry) == [r.version for r in story.runs]


def test_a_second_retrain_exits_75_while_the_registry_is_locked(story: Story) -> None:
    with registry_lock(story.registry):
        run = _retrain(story.registry, story.history, story.cache)
    assert (run.code, run.stdout, run.version) == (75, "", None)
    assert run.stderr.startswith(f"Error: {story.registry} is locked by pid {os.getpid()}")


def test_bad_history_exits_1_and_leaves_the_registry(story: Story, tmp_path: Path) -> None:
    before = sorted(os.listdir(story.registry))
    run = _retrain(story.registry, tmp_path, story.cache)
    assert (run.code, run.stdout) == (1, "")
    assert (
        run.stderr
        == f"Error: {tmp_path}: no evaluation log in the history folder (expected files ending in .jsonl, .jsonl.gz, .ndjson, .ndjson.gz, .json, .json.gz, .csv, .csv.gz, .parquet)\n"
    )
    assert sorted(os.listdir(story.registry)) == before


def test_first_run_without_a_catalog_is_a_config_error(tmp_path: Path, story: Story) -> None:
    run = _retrain(tmp_path / "empty", story.history, story.cache)
    assert run.code == 1
    assert (
        run.stderr
        == f"Error: {tmp_path / 'empty'} has no current version to take the catalog from; pass --catalog\n"
    )
    assert not (tmp_path / "empty").exists()  # the registry this run created is gone again


def test_a_failed_first_run_leaves_no_registry(story: Story, tmp_path: Path) -> None:
    run = _retrain(tmp_path / "new", tmp_path / "no-history", story.cache)
    assert (run.code, run.stderr) == (
        1,
        f"Error: {tmp_path / 'no-history'}: history folder does not exist\n",
    )
    assert not (tmp_path / "new").exists()


def test_a_registry_path_that_is_a_file_exits_1(story: Story, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    run = _retrain(tmp_path / "file", story.history, story.cache)
    assert (run.code, run.stderr) == (
        1,
        f"Error: {tmp_path / 'file'}: exists and is not a folder (it should be the registry)\n",
    )


def test_a_window_where_no_model_passes_says_why_before_embedding(
    story: Story, tmp_path: Path, sample_rows: list[dict]
) -> None:
    history, cache = tmp_path / "history", tmp_path / "cache"
    history.mkdir()
    failing = [{**r, "score": 0.0} for r in rows_of(sample_rows, story.ids["p3"])]
    write_jsonl(history / "day.jsonl", stamped(failing, time.time() - DAY))
    before = sorted(os.listdir(story.registry))
    run = _retrain(story.registry, history, cache)
    assert (run.code, run.stdout, run.version) == (1, "", None)
    assert run.stderr.startswith("Error: no usable outcome in the last 30 days")
    assert "30 rows of models not in the catalog; all 8 models left out, e.g. " in run.stderr
    assert "have an outcome (0 passes, 30 fails); at least 50 prompts with 5 passes" in run.stderr
    assert not list(cache.rglob("*.npz"))
    assert sorted(os.listdir(story.registry)) == before
