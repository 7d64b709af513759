"""The history folder: every log in it -> the outcomes within the window, latest per (prompt, model).

Rules, in order:

1. **Files**: every file below the folder whose name ends in a log suffix the training pipeline
   reads (``.jsonl``, ``.ndjson``, ``.json`` or ``.csv``, each optionally ``.gz``, or
   ``.parquet``), sorted by path. Hidden files and folders (a leading ``.``) are skipped, so a
   writer can upload under a hidden name and rename the finished file into place.
2. **Time**: a row's ``timestamp``; a row without one takes its file's modification time (the
   time the file was last appended to).
3. **Window**: rows at or after ``end - window_days``; ``end`` is the time of the run.
4. **De-duplication**: per (``prompt_id``, model), the outcome with the latest time; on equal
   times the one later in file order (files by path, then line).
5. **Models**: a model absent from the catalog is left out (it can no longer be served), and so
   is a model with too few outcomes to learn from (:meth:`ModelCount.shortfall`); both are
   logged and counted.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from router_ml.data.catalog import Catalog
from router_ml.data.evallog import LOG_SUFFIXES, Outcome
from router_ml.errors import DataError

logger = logging.getLogger(__name__)

#: Fewest prompts with an outcome a model needs in the window. With a 20% held-out side and a 20%
#: validation split of the rest, 50 prompts leave about 32 to fit on and 10 to judge the router by.
MIN_MODEL_PROMPTS = 50
#: Fewest passes (and fails) a model needs: below that its logistic part is little more than a
#: constant and the neighbour part is the global pass rate, so the router learns nothing about it.
MIN_MODEL_PASSES = 5
MIN_MODEL_FAILS = 5
#: Least share of the window's prompts a model needs outcomes on: training keeps only prompts with
#: every model's outcome, so a model evaluated on a small sample would shrink the data to it.
MIN_MODEL_COVERAGE = 0.5
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class ModelCount:
    """Prompts with an outcome of one model in the window, and how many it passed and failed."""

    prompts: int
    passes: int
    fails: int

    def shortfall(self, n_prompts: int) -> str | None:
        """Why the model has too few outcomes among ``n_prompts`` prompts to learn from, or None."""
        enough = (
            self.prompts >= MIN_MODEL_PROMPTS
            and self.passes >= MIN_MODEL_PASSES
            and self.fails >= MIN_MODEL_FAILS
            and self.prompts >= MIN_MODEL_COVERAGE * n_prompts
        )
        if enough:
            return None
        return (
            f"{self.prompts} of the window's {n_prompts} prompts have an outcome ({self.passes} "
            f"passes, {self.fails} fails); at least {MIN_MODEL_PROMPTS} prompts with "
            f"{MIN_MODEL_PASSES} passes and {MIN_MODEL_FAILS} fails, and "
            f"{MIN_MODEL_COVERAGE:.0%} of the window's prompts, are needed to learn its pass "
            "probability"
        )


@dataclass(frozen=True)
class History:
    """The outcomes a retrain learns from, and what was left out on the way.

    Attributes
    ----------
    outcomes : within the window, latest per (prompt_id, model), catalog models with enough data.
    files : the logs read, sorted by path.
    start, end : the window, in epoch seconds.
    rows_read : rows in every file.
    rows_outside_window : rows older than ``start``.
    rows_timed_by_file : rows without a timestamp, given their file's modification time.
    rows_superseded : rows in the window replaced by a later outcome of the same (prompt, model).
    not_in_catalog : per model absent from the catalog, its rows left out.
    too_few : per model left out for too few outcomes, why.
    """

    outcomes: list[Outcome]
    files: list[Path]
    start: float
    end: float
    rows_read: int
    rows_outside_window: int
    rows_timed_by_file: int
    rows_superseded: int
    not_in_catalog: dict[str, int]
    too_few: dict[str, str]


def history_files(folder: Path) -> list[Path]:
    """Every evaluation log below ``folder``, sorted by path (hidden files and folders skipped).

    Raises
    ------
    DataError
        When ``folder`` is not a folder or holds no log.
    """
    if not folder.is_dir():
        raise DataError("history folder does not exist", path=folder)
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.name.lower().endswith(LOG_SUFFIXES)
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not files:
        raise DataError(
            f"no evaluation log in the history folder (expected files ending in "
            f"{', '.join(LOG_SUFFIXES)})",
            path=folder,
        )
    return files


def _timed(outcomes: list[Outcome], mtime: float) -> list[Outcome]:
    return [o if o.timestamp is not None else replace(o, timestamp=mtime) for o in outcomes]


def latest_per_pair(outcomes: list[Outcome]) -> list[Outcome]:
    """Per (prompt_id, model), the outcome with the latest timestamp; ties go to the later one.

    ``outcomes`` must be in file order and every one must have a timestamp.
    """
    latest: dict[tuple[str, str], Outcome] = {}
    for outcome in outcomes:
        key = (outcome.prompt_id, outcome.model)
        kept = latest.get(key)
        if kept is None or outcome.timestamp >= kept.timestamp:
            latest[key] = outcome
    return list(latest.values())


def count_per_model(outcomes: list[Outcome], threshold: float) -> dict[str, ModelCount]:
    """Prompts, passes and fails of each model among ``outcomes`` (one per prompt and model)."""
    prompts: Counter[str] = Counter()
    passes: Counter[str] = Counter()
    for outcome in outcomes:
        prompts[outcome.model] += 1
        passes[outcome.model] += outcome.score >= threshold
    return {m: ModelCount(n, passes[m], n - passes[m]) for m, n in sorted(prompts.items())}


def _split_by_catalog(
    outcomes: list[Outcome], catalog: Catalog
) -> tuple[list[Outcome], dict[str, int]]:
    unknown: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        if outcome.model not in catalog:
            unknown[outcome.model] += 1
    for model, rows in sorted(unknown.items()):
        logger.warning(
            "model '%s' is not in the catalog: its %d outcomes are left out", model, rows
        )
    return [o for o in outcomes if o.model in catalog], dict(sorted(unknown.items()))


def _with_enough_outcomes(
    outcomes: list[Outcome], threshold: float
) -> tuple[list[Outcome], dict[str, str]]:
    n_prompts = len({o.prompt_id for o in outcomes})
    counts = count_per_model(outcomes, threshold)
    too_few = {m: why for m, c in counts.items() if (why := c.shortfall(n_prompts)) is not None}
    for model, why in too_few.items():
        logger.warning("model '%s' is left out: %s", model, why)
    return [o for o in outcomes if o.model not in too_few], too_few


def _nothing_usable(
    window_days: float,
    n_rows: int,
    n_inside: int,
    not_in_catalog: dict[str, int],
    too_few: dict[str, str],
) -> str:
    """Why no outcome is left: the window, the catalog, or too few outcomes of every model."""
    why = [f"{n_rows} rows read, {n_rows - n_inside} older than the window"]
    if not_in_catalog:
        why.append(f"{sum(not_in_catalog.values())} rows of models not in the catalog")
    if too_few:
        model, reason = next(iter(too_few.items()))
        why.append(f"all {len(too_few)} models left out, e.g. '{model}': {reason}")
    return f"no usable outcome in the last {window_days:g} days of the history ({'; '.join(why)})"


def assemble_history(
    per_file: list[tuple[Path, list[Outcome]]],
    end: float,
    window_days: float,
    catalog: Catalog,
    threshold: float,
) -> History:
    """Apply the module's rules to the outcomes read from each file (files in path order)."""
    start = end - window_days * SECONDS_PER_DAY
    rows = [o for path, outcomes in per_file for o in _timed(outcomes, path.stat().st_mtime)]
    untimed = sum(o.timestamp is None for _, outcomes in per_file for o in outcomes)
    inside = [o for o in rows if o.timestamp >= start]
    latest = latest_per_pair(inside)
    known, not_in_catalog = _split_by_catalog(latest, catalog)
    kept, too_few = _with_enough_outcomes(known, threshold)
    if not kept:
        raise DataError(
            _nothing_usable(window_days, len(rows), len(inside), not_in_catalog, too_few)
        )
    return History(
        outcomes=kept,
        files=[path for path, _ in per_file],
        start=start,
        end=end,
        rows_read=len(rows),
        rows_outside_window=len(rows) - len(inside),
        rows_timed_by_file=untimed,
        rows_superseded=len(inside) - len(latest),
        not_in_catalog=not_in_catalog,
        too_few=too_few,
    )
