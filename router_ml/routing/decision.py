"""What a router answers for one prompt: plain records, so that gateway clients can use them
without loading a router (no numpy, joblib or onnxruntime import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reason = Literal["met_min_confidence", "none_met_min_confidence", "max_expected_utility"]


@dataclass(frozen=True)
class ModelEstimate:
    """One candidate model's calibrated pass probability, estimated cost and expected score.

    ``expected_score`` is what the utility policy weighs against cost (None when not known, e.g.
    from a server older than the field).
    """

    model: str
    pass_probability: float
    estimated_cost_usd: float
    expected_score: float | None = None


@dataclass(frozen=True)
class RouteDecision:
    """The router's answer for one prompt.

    Attributes
    ----------
    model : the recommended model.
    confidence : that model's calibrated pass probability.
    reason : with the threshold policy, ``met_min_confidence`` (the cheapest model whose
        probability cleared the knob) or ``none_met_min_confidence`` (no allowed model did; the
        highest probability was chosen); with the utility policy, ``max_expected_utility``.
    restricted_by_allowed_models : the choice differs from what it would be with every model allowed.
    ranked : every allowed model in the policy's order of preference, chosen first: a
        gateway's fallback order.
    """

    model: str
    confidence: float
    reason: Reason
    restricted_by_allowed_models: bool
    min_confidence: float
    ranked: tuple[ModelEstimate, ...]
    router_version: str
