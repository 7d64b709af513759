"""Helpers shared by the pipeline tests (data, embedding, artifact, training, report).

Import them as ``from pipeline_helpers import ...``: ``from conftest import ...`` breaks as soon
as a subfolder has a conftest.py of its own, since pytest imports every one as ``conftest``.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import tomllib
from pathlib import Path

from router_ml.report.compute import RoutingReport
from router_ml.report.pipeline import ReportConfig, make_report
from router_ml.training.pipeline import TrainConfig, TrainResult, train


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def with_logged_costs(rows: list[dict], catalog: Path, seed: int = 0) -> list[dict]:
    """``rows`` with a logged ``cost_usd`` as real answers give: the catalog's prices on the
    prompt's tokens (characters / 4) and on a random answer length of 1 to 3,000 tokens."""
    prices = tomllib.loads(catalog.read_text(encoding="utf-8"))["models"]
    rng = random.Random(seed)
    logged = []
    for row in rows:
        price = prices[row["model"]]
        tokens_in, tokens_out = len(row["prompt"]) / 4, rng.randint(1, 3000)
        cost = (tokens_in * price["input_per_mtok"] + tokens_out * price["output_per_mtok"]) / 1e6
        logged.append({**row, "cost_usd": cost})
    return logged


def train_quietly(folder: Path, rows: list[dict], catalog: Path, cache: Path) -> TrainResult:
    """``router-ml train`` on ``rows`` (written to ``folder/log.jsonl``) into ``folder/models``."""
    log = write_jsonl(folder / "log.jsonl", rows)
    config = TrainConfig(
        data=(log,), catalog=catalog, out=folder / "models", cache_dir=cache, show_progress=False
    )
    return train(config)


def report_quietly(
    version: Path, rows: list[dict], catalog: Path, folder: Path, cache: Path
) -> RoutingReport:
    """``router-ml report`` of ``version`` on ``rows`` (20 bootstrap resamples) into ``folder/report``."""
    log = write_jsonl(folder / "heldout.jsonl", rows)
    config = ReportConfig(
        version, (log,), catalog, folder / "report", cache_dir=cache, n_bootstrap=20,
        show_progress=False,
    )  # fmt: skip
    return make_report(config).report


def unseen_rows(rows: list[dict], seen: list[dict], n: int) -> list[dict]:
    """The first ``n`` of ``rows`` whose prompt_id is not among ``seen``'s."""
    known = {r["prompt_id"] for r in seen}
    return [r for r in rows if r["prompt_id"] not in known][:n]


def first_prompts(rows: list[dict], n: int) -> list[dict]:
    """The rows of the first ``n`` prompt_ids of ``rows``, in file order."""
    ids = list(dict.fromkeys(r["prompt_id"] for r in rows))[:n]
    return [r for r in rows if r["prompt_id"] in set(ids)]


def registry_state(registry: Path) -> dict[str, str]:
    """Every entry of a registry folder: a link's target, a version's file names, or "file"."""
    if not registry.exists():
        return {}
    return {p.name: _entry_state(p) for p in registry.iterdir()}


def _entry_state(path: Path) -> str:
    if path.is_symlink():
        return os.readlink(path)
    if path.is_dir():
        return " ".join(sorted(f.name for f in path.iterdir()))
    return "file"
