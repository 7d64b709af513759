"""Pivot evaluation outcomes into a routing data set: prompts x models scores and costs."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from router_ml.data.catalog import Catalog
from router_ml.data.costs import CostRule, token_cost
from router_ml.data.evallog import Outcome
from router_ml.errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutingDataset:
    """Prompts with every candidate model's score (0..1) and cost (USD).

    Attributes
    ----------
    prompts : the text embedded for each prompt (for a conversation, what the server embeds).
    cost_texts : the text each prompt's cost is estimated from (a conversation's every turn; a
        plain prompt itself).
    scores, costs : ndarray of shape (n_prompts, n_models); ``costs`` are what the requests cost
        (logged costs or tokens when the log has them), what routes are scored by.
    estimated_costs : ndarray of shape (n_prompts, n_models), the cost rule's estimate from the
        prompt alone: what a router decides with at serving time.
    models : candidate model ids, in column order (sorted by name).
    timestamps : earliest outcome time of each prompt (NaN when unknown).
    skipped_incomplete : prompts dropped because some models had no outcome for them.
    """

    prompt_ids: list[str]
    prompts: list[str]
    cost_texts: list[str]
    models: list[str]
    scores: np.ndarray
    costs: np.ndarray
    estimated_costs: np.ndarray
    tasks: list[str | None]
    splits: list[str | None]
    timestamps: np.ndarray
    skipped_incomplete: int = 0

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, index: np.ndarray) -> RoutingDataset:
        """The prompts at ``index`` (integer positions or a boolean mask)."""
        positions = np.arange(len(self))[index]
        return replace(
            self,
            prompt_ids=[self.prompt_ids[i] for i in positions],
            prompts=[self.prompts[i] for i in positions],
            cost_texts=[self.cost_texts[i] for i in positions],
            scores=self.scores[positions],
            costs=self.costs[positions],
            estimated_costs=self.estimated_costs[positions],
            tasks=[self.tasks[i] for i in positions],
            splits=[self.splits[i] for i in positions],
            timestamps=self.timestamps[positions],
        )

    def passes(self, threshold: float) -> np.ndarray:
        """Boolean matrix: does each model's score clear ``threshold`` on each prompt?"""
        return self.scores >= threshold


def _where(outcome: Outcome) -> str:
    return f"{outcome.path}:{outcome.line}"


def _error_at(outcome: Outcome, message: str, field: str) -> DataError:
    """A DataError pointing at ``outcome``'s file and line."""
    return DataError(message, path=outcome.path, line=outcome.line, field=field)


def _check_models(outcomes: list[Outcome], catalog: Catalog) -> list[str]:
    first_seen: dict[str, Outcome] = {}
    for outcome in outcomes:
        first_seen.setdefault(outcome.model, outcome)
    unknown = sorted(m for m in first_seen if m not in catalog)
    if unknown:
        listed = ", ".join(f"'{m}' (first at {_where(first_seen[m])})" for m in unknown)
        first = first_seen[unknown[0]]
        raise _error_at(
            first,
            f"{len(unknown)} model(s) in the log are absent from the catalog: {listed}",
            "model",
        )
    return sorted(first_seen)


def _group(outcomes: list[Outcome]) -> dict[str, dict[str, Outcome]]:
    grouped: dict[str, dict[str, Outcome]] = defaultdict(dict)
    for outcome in outcomes:
        per_model = grouped[outcome.prompt_id]
        if per_model:
            other = next(iter(per_model.values()))
            if (other.prompt, other.cost_text) != (outcome.prompt, outcome.cost_text):
                raise _error_at(
                    outcome,
                    f"prompt_id '{outcome.prompt_id}' has a different prompt text than at {_where(other)}",
                    "prompt",
                )
        previous = per_model.get(outcome.model)
        if previous is not None and previous.score != outcome.score:
            raise _error_at(
                outcome,
                f"duplicate (prompt_id '{outcome.prompt_id}', model '{outcome.model}') with score "
                f"{outcome.score} here and {previous.score} at {_where(previous)}",
                "score",
            )
        per_model[outcome.model] = outcome
    return grouped


def _prompt_splits(outcomes: list[Outcome]) -> dict[str, str]:
    """Each prompt's split: the one its rows name (rows without one take it)."""
    stated: dict[str, Outcome] = {}
    for outcome in outcomes:
        if outcome.split is None:
            continue
        first = stated.setdefault(outcome.prompt_id, outcome)
        if first.split != outcome.split:
            raise _error_at(
                outcome,
                f"prompt_id '{outcome.prompt_id}' has split '{outcome.split}' here and "
                f"'{first.split}' at {_where(first)}",
                "split",
            )
    return {pid: outcome.split for pid, outcome in stated.items()}


def _sparsest(grouped: dict[str, dict[str, Outcome]], models: list[str], shown: int = 3) -> str:
    """The models with outcomes on the fewest prompts and their share, e.g. ``m on 31% of prompts``:
    the ones to evaluate further, or to leave out of the log, to keep more prompts."""
    counts = {m: sum(m in per_model for per_model in grouped.values()) for m in models}
    sparsest = sorted(models, key=lambda m: counts[m])[:shown]
    return "fewest outcomes: " + ", ".join(
        f"{m} on {counts[m] / len(grouped):.0%} of prompts" for m in sparsest
    )


def _cost(outcome: Outcome, estimate: float, catalog: Catalog, rule: CostRule) -> float:
    if outcome.cost_usd is not None:
        return outcome.cost_usd
    if outcome.input_tokens is None:
        return estimate
    tokens_in = np.array([outcome.input_tokens])
    tokens_out = np.array(
        [
            outcome.output_tokens
            if outcome.output_tokens is not None
            else rule.output_tokens(tokens_in)[0]
        ]
    )
    return float(token_cost(tokens_in, tokens_out, catalog, [outcome.model])[0, 0])


def build_dataset(
    outcomes: list[Outcome], catalog: Catalog, rule: CostRule | None = None
) -> RoutingDataset:
    """Pivot outcomes into a :class:`RoutingDataset`.

    Policy for prompts that lack an outcome for some model: they are skipped, and counted in
    ``skipped_incomplete`` (a router cannot learn a pass probability it never observed).

    Raises
    ------
    DataError
        On unknown models (all named), conflicting duplicates or splits, or when no complete
        prompt is left.
    """
    rule = rule or CostRule()
    if not outcomes:
        raise DataError("the evaluation logs hold no outcomes")
    models = _check_models(outcomes, catalog)
    grouped = _group(outcomes)
    split_of = _prompt_splits(outcomes)
    complete = {pid: rows for pid, rows in grouped.items() if len(rows) == len(models)}
    skipped = len(grouped) - len(complete)
    if not complete:
        pid, per_model = next(iter(grouped.items()))
        first = next(iter(per_model.values()))
        missing = ", ".join(m for m in models if m not in per_model)
        raise _error_at(
            first,
            f"no prompt has outcomes for all {len(models)} models, and prompts with partial "
            f"outcomes are skipped; e.g. prompt_id '{pid}' has none for {missing}",
            "model",
        )
    if skipped:
        logger.warning(
            "skipped %d of %d prompts with outcomes for only some models (%s)",
            skipped,
            len(grouped),
            _sparsest(grouped, models),
        )
    ids = list(complete)
    firsts = [next(iter(complete[pid].values())) for pid in ids]
    estimates = rule.estimate(np.array([len(o.cost_text) for o in firsts]), catalog, models)
    scores = np.array([[complete[pid][m].score for m in models] for pid in ids], dtype=np.float64)
    costs = np.array(
        [
            [_cost(complete[pid][m], estimates[i, j], catalog, rule) for j, m in enumerate(models)]
            for i, pid in enumerate(ids)
        ],
        dtype=np.float64,
    )
    times = [
        [o.timestamp for o in complete[pid].values() if o.timestamp is not None] for pid in ids
    ]
    return RoutingDataset(
        prompt_ids=ids,
        prompts=[o.prompt for o in firsts],
        cost_texts=[o.cost_text for o in firsts],
        models=models,
        scores=scores,
        costs=costs,
        estimated_costs=estimates,
        tasks=[o.task for o in firsts],
        splits=[split_of.get(pid) for pid in ids],
        timestamps=np.array([min(t) if t else np.nan for t in times], dtype=np.float64),
        skipped_incomplete=skipped,
    )
