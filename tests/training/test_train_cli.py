"""``router-ml train`` end to end, twice over the same small real log with a fresh cache."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline_helpers import write_jsonl

from router_ml import Router, cli
from router_ml.artifact.manifest import MANIFEST_NAME, sha256_file
from router_ml.artifact.registry import (
    STAGING_PREFIX,
    current_version,
    list_versions,
    resolve_version,
)

N_PARTIAL = 2


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    version: str
    manifest: dict

    @property
    def text(self) -> str:
        """stdout with rich's line wrapping undone."""
        return " ".join(self.stdout.split())


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory, small_rows, sample_rows) -> list[Path]:
    """The small sample plus two real prompts missing their first model's outcome, as two files
    (JSON Lines and gzipped CSV) split mid-prompt."""
    small = {r["prompt_id"] for r in small_rows}
    extra = [pid for pid in dict.fromkeys(r["prompt_id"] for r in sample_rows) if pid not in small]
    first_model = {
        pid: next(r["model"] for r in sample_rows if r["prompt_id"] == pid)
        for pid in extra[:N_PARTIAL]
    }
    partial = [r for r in sample_rows if first_model.get(r["prompt_id"], r["model"]) != r["model"]]
    rows = small_rows + partial
    folder = tmp_path_factory.mktemp("cli-logs")
    cut = len(rows) // 2 + 4
    with gzip.open(folder / "rest.csv.gz", "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[cut:])
    return [write_jsonl(folder / "head.jsonl", rows[:cut]), folder / "rest.csv.gz"]


LEFTOVERS = (f"{STAGING_PREFIX}killed", ".current-killed")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding only what a killed run left: a staging folder and a dangling link."""
    registry = tmp_path_factory.mktemp("cli-registry") / "models"
    (registry / LEFTOVERS[0]).mkdir(parents=True)
    (registry / LEFTOVERS[0] / "heads.npz").write_bytes(b"half-written")
    (registry / LEFTOVERS[1]).symlink_to("20990101T000000Z-gone")
    return registry


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, logs: list[Path], catalog_path: Path, registry: Path
) -> list[Run]:
    """Two ``router-ml train`` runs into one registry, with an embedding cache of their own."""
    cache = tmp_path_factory.mktemp("cli-cache")
    argv = ["train", *(arg for log in logs for arg in ("--data", str(log)))]
    argv += ["--catalog", str(catalog_path), "--out", str(registry)]
    argv += ["--cache-dir", str(cache), "--no-progress"]
    done = []
    for _ in range(2):
        before = set(list_versions(registry))
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = cli.main(argv)
        (version,) = set(list_versions(registry)) - before
        manifest = json.loads((registry / version / MANIFEST_NAME).read_text(encoding="utf-8"))
        done.append(Run(code, stdout.getvalue(), version, manifest))
    return done


def _table_row(stdout: str, label: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(f"│ {label}"))


def test_both_runs_succeed(runs: list[Run]) -> None:
    assert [run.code for run in runs] == [0, 0]


def test_summary_table_has_router_oracle_and_every_model(runs: list[Run]) -> None:
    run = runs[0]
    heldout = run.manifest["metrics"]["heldout"]
    assert f"Held-out routing on {heldout['n_prompts']} prompts" in run.text
    for label, figures in [
        ("router (min_confidence", heldout["router"]),
        ("oracle", heldout["oracle"]),
        *heldout["models"].items(),
    ]:
        row = _table_row(run.stdout, label)
        assert f"{figures['quality']:.3f}" in row and f"{figures['cost_usd']:.4f}" in row
    assert "(best single)" in _table_row(run.stdout, heldout["best_single"])


def test_summary_states_savings_vs_best_single(runs: list[Run]) -> None:
    heldout = runs[0].manifest["metrics"]["heldout"]
    stated = f"savings vs best single model ({heldout['best_single']}): "
    assert f"{stated}{heldout['savings_vs_best']:.1%}" in runs[0].text


def test_second_run_embeds_nothing(runs: list[Run]) -> None:
    first, second = runs
    assert f"{first.manifest['split']['n_prompts']} newly embedded" in first.text
    assert "; 0 newly embedded" in second.text


def test_a_killed_runs_leftovers_are_removed(runs: list[Run], registry: Path) -> None:
    """Nothing hidden is left but the lock file: the killed run's entries and no staging."""
    names = {p.name for p in registry.iterdir()}
    assert not names & set(LEFTOVERS)
    assert names == {"current", ".lock", *(run.version for run in runs)}


def test_two_runs_two_versions_and_current_is_the_newer(runs: list[Run], registry: Path) -> None:
    assert list_versions(registry) == sorted(run.version for run in runs)
    assert current_version(registry) == runs[1].version
    assert resolve_version(registry) == (registry / runs[1].version).resolve()


def test_incomplete_prompts_are_skipped_and_counted(runs: list[Run], small_rows) -> None:
    split = runs[0].manifest["split"]
    assert split["skipped_incomplete"] == N_PARTIAL
    assert split["n_prompts"] == len({r["prompt_id"] for r in small_rows})
    assert f"{N_PARTIAL} incomplete prompts skipped" in runs[0].text
    dropped = split["dropped_train_overlap"]
    assert f"{dropped} training prompts dropped whose text is also held out" in runs[0].text


def test_the_published_router_loads_and_routes(registry: Path, runs: list[Run]) -> None:
    router = Router.load(registry)
    assert router.version == runs[1].version
    assert router.route("What is the capital of France?").model in router.models


def test_manifest_hashes_both_logs(runs: list[Run], logs: list[Path]) -> None:
    expected = [{"path": str(log), "sha256": sha256_file(log)} for log in logs]
    assert runs[0].manifest["data"] == expected


def test_max_seq_length_reaches_the_encoder_and_its_export(
    tmp_path: Path, logs: list[Path], catalog_path: Path
) -> None:
    registry = tmp_path / "models"
    argv = ["train", *(arg for log in logs for arg in ("--data", str(log)))]
    argv += [
        "--catalog",
        str(catalog_path),
        "--out",
        str(registry),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
        "--max-seq-length",
        "16",
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(argv) == 0
    router = Router.load(registry, backend="onnx")
    encoder = router.manifest["encoder"]
    assert encoder["max_seq_length"] == encoder["onnx"]["max_seq_length"] == 16
    prompt = "word " * 40
    assert router.encoder.tokenizer.encode(prompt).ids[15] == 102, "truncated to 16, ending [SEP]"
    assert router.route(prompt).model in router.models
