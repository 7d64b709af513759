"""Helpers of the retraining tests: stamped and corrupted history rows, catalogs, fake versions."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

from router_ml import cli
from router_ml.artifact.manifest import seal
from router_ml.artifact.registry import GATE_FIELD
from router_ml.data.catalog import Catalog, ModelPrice

DAY = 86_400.0


def shuffled_ids(rows: list[dict], seed: int = 3) -> list[str]:
    """The prompt ids of ``rows``, shuffled (the sample is grouped by task)."""
    ids = list(dict.fromkeys(r["prompt_id"] for r in rows))
    random.Random(seed).shuffle(ids)
    return ids


def rows_of(rows: list[dict], ids: list[str]) -> list[dict]:
    """The rows of ``ids``, in the order of ``rows``."""
    wanted = set(ids)
    return [r for r in rows if r["prompt_id"] in wanted]


def stamped(rows: list[dict], when: float | None, *, flip: bool = False) -> list[dict]:
    """Copies of ``rows`` at time ``when`` (None: no timestamp), scores flipped when ``flip``."""
    copies = []
    for row in rows:
        copy = dict(row)
        if when is None:
            copy.pop("timestamp", None)
        else:
            copy["timestamp"] = when
        if flip:
            copy["score"] = 1.0 - copy["score"]
        copies.append(copy)
    return copies


def write_catalog(path: Path, catalog: Catalog) -> Path:
    path.write_text(catalog.to_toml(), encoding="utf-8")
    return path


def edited_catalog(
    catalog: Catalog, *, drop: tuple[str, ...] = (), add: tuple[str, ...] = (), prices=None
) -> Catalog:
    """``catalog`` without ``drop``, with ``add`` (at 0.1/0.1) and ``prices`` {model: (in, out)}."""
    models = {name: price for name, price in catalog.models.items() if name not in drop}
    for name, (price_in, price_out) in (prices or {}).items():
        models[name] = ModelPrice(name, price_in, price_out)
    for name in add:
        models[name] = ModelPrice(name, 0.1, 0.1)
    return Catalog(models)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``router-ml ARGV`` in process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def fake_version(registry: Path, name: str, decision: str | None = None) -> Path:
    """A sealed version folder holding one small file, with a retrain ``gate`` field if given."""
    folder = registry / name
    folder.mkdir(parents=True)
    (folder / "payload.bin").write_bytes(name.encode())
    manifest: dict = {"version": name}
    if decision is not None:
        manifest[GATE_FIELD] = {"decision": decision, "reason": "test"}
    seal(folder, manifest)
    return folder


def read_record(version_dir: Path) -> dict:
    return json.loads((version_dir / "decision.json").read_text(encoding="utf-8"))
