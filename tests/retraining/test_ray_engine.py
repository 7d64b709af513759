"""``--engine ray`` on a local Ray instance (2 CPUs): same outcomes, same embeddings, same job."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline_helpers import write_jsonl
from retrain_helpers import DAY, read_record, rows_of, run_cli, shuffled_ids, stamped

from router_ml.data.evallog import ScoreScale, read_log
from router_ml.data.splits import prompt_hash
from router_ml.embedding.cache import EmbeddingCache
from router_ml.errors import DataError
from router_ml.retraining.ray_engine import RayEmbedder, read_with_ray

pytestmark = [
    pytest.mark.slow,
    # Ray Data's DataContext sets attributes it deprecated itself (ray 2.60): it warns on first use.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]

N_PROMPTS = 60


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs; the engine uses it and leaves it running."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def rows(sample_rows: list[dict]) -> list[dict]:
    """Real rows of one-line prompts, stamped a day ago."""
    flat = [r for r in sample_rows if "\n" not in r["prompt"]]
    return stamped(rows_of(flat, shuffled_ids(flat)[:N_PROMPTS]), time.time() - DAY)


def _write_each_format(folder: Path, rows: list[dict]) -> list[Path]:
    """A gzipped JSON Lines log with ISO times, a CSV with epoch times, a Parquet file."""
    third = len(rows) // 3
    iso = [
        {**r, "timestamp": f"2026-11-{10 + i % 18:02d}T08:30:00+00:00"}
        for i, r in enumerate(rows[:third])
    ]
    gz = folder / "a.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in iso)
    text = folder / "b.csv"
    with text.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[third : 2 * third])
    table = folder / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows[2 * third :]), table)
    return [gz, text, table]


def test_ray_readers_give_the_single_machine_outcomes(
    local_ray, tmp_path: Path, rows: list[dict]
) -> None:
    for path in _write_each_format(tmp_path, rows):
        ray_outcomes = read_with_ray(path, ScoreScale())
        assert ray_outcomes == read_log(path), path.name
        assert len(ray_outcomes) > 0


def test_mixed_types_in_a_column_are_a_data_error(local_ray, tmp_path: Path, rows) -> None:
    mixed = [
        {**r, "timestamp": "2026-11-20T08:30:00+00:00"} if i % 2 else r for i, r in enumerate(rows)
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", mixed)
    with pytest.raises(DataError, match=rf"^{path}: cannot read with Ray Data: \w+"):
        read_with_ray(path, ScoreScale())


def test_ray_embeddings_equal_the_single_machine_ones(local_ray, encoder, rows) -> None:
    texts = sorted({r["prompt"] for r in rows})[:40]
    on_ray = RayEmbedder(encoder, batch_size=8).encode(texts)
    assert on_ray.shape == (len(texts), encoder.dimension)
    np.testing.assert_allclose(on_ray, encoder.encode(texts), atol=1e-5)


def test_retrain_on_ray_feeds_the_same_training(
    local_ray, tmp_path: Path, rows: list[dict], catalog_path: Path, encoder
) -> None:
    history, registry, cache = tmp_path / "history", tmp_path / "models", tmp_path / "cache"
    history.mkdir()
    write_jsonl(history / "log.jsonl", rows)
    argv = ["retrain", "--registry", str(registry), "--history", str(history)]
    argv += ["--catalog", str(catalog_path), "--cache-dir", str(cache), "--no-progress"]
    code, out, err = run_cli([*argv, "--engine", "ray"])
    assert code == 0, err
    version = registry / out.split()[1]
    record = read_record(version)
    assert (record["engine"], record["decision"]) == ("ray", "promoted")
    assert record["prompts"]["newly_embedded"] == N_PROMPTS
    texts = sorted({r["prompt"] for r in rows})
    hashes = [prompt_hash(t) for t in texts]
    cached = EmbeddingCache(cache, encoder.identity.cache_key).get(hashes)
    assert len(cached) == N_PROMPTS
    stored = np.stack([cached[h] for h in hashes])
    np.testing.assert_allclose(stored, encoder.encode(texts), atol=1e-5)
