"""The decision record of a retrain: ``decision.json`` and its human summary ``DECISION.md``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from router_ml.data.catalog import Catalog
from router_ml.data.dataset import RoutingDataset
from router_ml.data.splits import Split
from router_ml.evaluation.metrics import best_single_index, single_models
from router_ml.retraining import drift as drift_rules
from router_ml.retraining.drift import Drift
from router_ml.retraining.gate import GateFigures, Verdict
from router_ml.retraining.history import History
from router_ml.routing.router import Router

RECORD_JSON = "decision.json"
RECORD_MARKDOWN = "DECISION.md"


@dataclass(frozen=True)
class Evidence:
    """Everything a retrain learned on its way to a decision."""

    version: str
    verdict: Verdict
    threshold: float
    tolerance: float
    window_days: float
    engine: str
    history: History
    dataset: RoutingDataset
    split: Split
    new_prompts: int
    newly_embedded: int
    gate: RoutingDataset
    gate_excluded: int
    champion: Router | None
    champion_figures: GateFigures | None
    challenger_figures: GateFigures | None
    catalog: Catalog
    drift: Drift | None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _window(e: Evidence) -> dict[str, Any]:
    h = e.history
    return {
        "days": e.window_days,
        "start": _iso(h.start),
        "end": _iso(h.end),
        "files": len(h.files),
        "rows_read": h.rows_read,
        "rows_outside_window": h.rows_outside_window,
        "rows_timed_by_file_mtime": h.rows_timed_by_file,
        "rows_superseded": h.rows_superseded,
        "rows_used": len(h.outcomes),
    }


def _prompts(e: Evidence) -> dict[str, Any]:
    return {
        "in_window": len(e.dataset),
        "skipped_incomplete": e.dataset.skipped_incomplete,
        "new_to_champion": e.new_prompts,
        "newly_embedded": e.newly_embedded,
        "train": len(e.split.train),
        "heldout": len(e.split.test),
        "dropped_train_overlap": e.split.dropped_overlap,
        "split_method": e.split.method,
        "gate": len(e.gate),
        "heldout_trained_on_by_champion": e.gate_excluded,
    }


def _why_removed(model: str, e: Evidence) -> str:
    if model not in e.catalog:
        return "not in the catalog"
    return e.history.too_few.get(model, "no outcome in the window")


def _models(e: Evidence) -> dict[str, Any]:
    challenger = list(e.dataset.models)
    champion = list(e.champion.models) if e.champion else []
    return {
        "challenger": challenger,
        "champion": champion,
        "new": sorted(set(challenger) - set(champion)) if e.champion else [],
        "removed": {m: _why_removed(m, e) for m in sorted(set(champion) - set(challenger))},
        "left_out_too_few_outcomes": e.history.too_few,
        "left_out_not_in_catalog": e.history.not_in_catalog,
    }


def _price_changes(e: Evidence) -> list[dict[str, Any]]:
    if e.champion is None:
        return []
    changes = []
    for name, old in e.champion.catalog.models.items():
        new = e.catalog.models.get(name)
        if new is not None and (new.input_per_mtok, new.output_per_mtok) != (
            old.input_per_mtok,
            old.output_per_mtok,
        ):
            changes.append(
                {
                    "model": name,
                    "input_per_mtok": [old.input_per_mtok, new.input_per_mtok],
                    "output_per_mtok": [old.output_per_mtok, new.output_per_mtok],
                }
            )
    return changes


def _best_single(gate: RoutingDataset, threshold: float) -> dict[str, Any]:
    singles = single_models(gate.scores, gate.costs, threshold)
    best = best_single_index(singles)
    return {"model": gate.models[best], **asdict(singles[best])}


def _drift(e: Evidence) -> dict[str, Any] | None:
    if e.drift is None:
        return None
    return {
        **asdict(e.drift),
        "rule": {"min_shift": drift_rules.DRIFT_SHIFT, "alpha": drift_rules.DRIFT_ALPHA},
    }


def decision_record(e: Evidence) -> dict[str, Any]:
    """The JSON decision record of one retrain."""
    return {
        "version": e.version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "decision": "promoted" if e.verdict.promote else "rejected",
        "reason": e.verdict.reason,
        "champion": e.champion.version if e.champion else None,
        "tolerance": e.tolerance,
        "engine": e.engine,
        "window": _window(e),
        "prompts": _prompts(e),
        "models": _models(e),
        "price_changes": _price_changes(e),
        "gate": {
            "n_prompts": len(e.gate),
            "best_single": _best_single(e.gate, e.threshold) if len(e.gate) else None,
            "champion": asdict(e.champion_figures) if e.champion_figures else None,
            "challenger": asdict(e.challenger_figures) if e.challenger_figures else None,
            "checks": [asdict(c) for c in e.verdict.checks],
        },
        "drift": _drift(e),
    }


def _pct(value: float | None) -> str:
    return "never reached" if value is None else f"{value:.1%}"


def _figures_table(gate: dict[str, Any]) -> list[str]:
    sides = [(name, gate[name]) for name in ("champion", "challenger") if gate[name]]
    rows = [
        "| | " + " | ".join(f"{name} {f['version']}" for name, f in sides) + " |",
        "|---|" + "---|" * len(sides),
    ]
    cells = {
        "min_confidence (default)": lambda f: f"{f['min_confidence']:.2f}",
        "quality at default min_confidence": lambda f: f"{f['at_default']['quality']:.3f}",
        "pass rate": lambda f: f"{f['at_default']['pass_rate']:.3f}",
        "cost (USD)": lambda f: f"{f['at_default']['cost_usd']:.4f}",
        "savings_at_best_quality": lambda f: _pct(f["savings_at_best_quality"]),
    }
    rows += [
        f"| {label} | " + " | ".join(cell(f) for _, f in sides) + " |"
        for label, cell in cells.items()
    ]
    return rows


def _names(values: list[str]) -> str:
    return ", ".join(values) if values else "none"


def _data_lines(record: dict[str, Any]) -> list[str]:
    w, p, m = record["window"], record["prompts"], record["models"]
    prices = [
        f"{c['model']} {c['input_per_mtok'][0]:g}/{c['output_per_mtok'][0]:g} -> "
        f"{c['input_per_mtok'][1]:g}/{c['output_per_mtok'][1]:g}"
        for c in record["price_changes"]
    ]
    left_out = {**m["left_out_too_few_outcomes"], **m["left_out_not_in_catalog"]}
    return [
        f"- Window: {w['start']} to {w['end']} ({w['days']:g} days); {w['files']} files, "
        f"{w['rows_read']} rows read, {w['rows_outside_window']} older than the window, "
        f"{w['rows_timed_by_file_mtime']} timed by their file's mtime, {w['rows_superseded']} "
        f"replaced by a later outcome of the same (prompt, model), {w['rows_used']} used.",
        f"- Prompts: {p['in_window']} ({p['skipped_incomplete']} skipped for missing outcomes), "
        f"{p['new_to_champion']} new to the champion, {p['newly_embedded']} newly embedded; "
        f"{p['train']} train / {p['heldout']} held out (by {p['split_method']}; "
        f"{p['dropped_train_overlap']} training prompts dropped whose text is also held "
        f"out), of which {p['heldout_trained_on_by_champion']} the champion trained on.",
        f"- Models: {len(m['challenger'])}; new: {_names(m['new'])}; removed: "
        f"{_names([f'{k} ({v})' for k, v in m['removed'].items()])}; left out: "
        f"{_names(sorted(left_out))}.",
        f"- Price changes (USD per 1M input/output tokens): {_names(prices)}.",
    ]


def _drift_line(drift: dict[str, Any] | None) -> str:
    if drift is None:
        return "No champion training prompts to compare with (or no new prompt)."
    q, r = drift["new_quantiles"], drift["reference_quantiles"]
    verdict = "DRIFT FLAGGED" if drift["flagged"] else "no drift flagged"
    return (
        f"Nearest-neighbour cosine similarity of the {drift['n_new']} new prompts to the "
        f"champion's {drift['n_reference']} training prompts: p5 {q['p5']:.3f}, p25 {q['p25']:.3f}, "
        f"median {q['p50']:.3f}, p95 {q['p95']:.3f} (training prompts to each other: p5 "
        f"{r['p5']:.3f}, median {r['p50']:.3f}). Shift (one-sided Kolmogorov-Smirnov, new prompts "
        f"farther than training ones) {drift['shift']:.3f}: {verdict} (flag above "
        f"{drift['threshold']:.3f}, the larger of {drift['rule']['min_shift']:g} and the critical "
        f"value at alpha {drift['rule']['alpha']:g})."
    )


def decision_markdown(record: dict[str, Any]) -> str:
    """A short human summary of a decision record."""
    gate = record["gate"]
    best = gate["best_single"]
    best_text = (
        f"; best single model {best['model']} (quality {best['quality']:.3f}, "
        f"cost {best['cost_usd']:.4f} USD)"
        if best
        else ""
    )
    lines = [
        f"# Retrain {record['version']}: {record['decision']}",
        "",
        f"**{record['decision'].capitalize()}**: {record['reason']}.",
        "",
        f"Champion: {record['champion'] or 'none'}; tolerance {record['tolerance']:g}; "
        f"engine {record['engine']}; created {record['created_at']}.",
        "",
        f"Gate: {gate['n_prompts']} fresh held-out prompts (neither router trained on them)"
        f"{best_text}.",
        "",
        *_figures_table(gate),
        "",
        "## Data",
        "",
        *_data_lines(record),
        "",
        "## Drift",
        "",
        _drift_line(record["drift"]),
        "",
    ]
    return "\n".join(lines)
