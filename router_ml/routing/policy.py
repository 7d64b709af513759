"""Decision policies: turn calibrated pass probabilities and cost estimates into a model choice.

Both policies take one knob, ``min_confidence`` in [0, 1] (higher = more quality, more cost):

- ``threshold``: the cheapest model whose pass probability is >= ``min_confidence``; if none is,
  the model with the highest pass probability.
- ``utility``: the model with the highest expected utility ``value - lam * cost``, where
  ``lam = (1 - min_confidence) / (min_confidence * reference_cost_usd)`` and ``value`` is the
  expected score (``Policy.value`` = ``expected_score``, the quality the report measures) or,
  for versions trained before the score head, P(pass). At 1 cost is ignored (highest value); at
  0 the cheapest model is taken; at 0.5 one extra unit of value is worth ``reference_cost_usd``
  (the median estimated cost of a training prompt on the dearest model). Unlike the threshold
  rule it spends where it is cheap (short prompts) and saves where it is dear (long ones). With a
  reference cost <= 0 (every price 0: self-hosted models) cost weighs nothing at any knob.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from router_ml.util import lexicographic_argmin, lexicographic_order

PolicyName = Literal["threshold", "utility"]
POLICIES: tuple[PolicyName, ...] = ("threshold", "utility")
UtilityValue = Literal["expected_score", "pass_probability"]
#: What the utility maximised in versions whose manifest predates ``Policy.value``.
LEGACY_UTILITY_VALUE: UtilityValue = "pass_probability"


@dataclass(frozen=True)
class Policy:
    """A decision policy, its cost scale and what its utility maximises (stored in the artifact).

    ``value`` tells the router which estimate to pass as ``expected_score``: the expected score,
    or P(pass) itself (versions trained before the score head; their knob was chosen so).
    """

    name: PolicyName
    reference_cost_usd: float = 1.0
    value: UtilityValue = "expected_score"

    def cost_weight(self, min_confidence: float) -> float:
        """``lam`` of the utility policy: the value one USD must buy (0 when nothing costs)."""
        if self.reference_cost_usd <= 0.0:
            return 0.0
        if min_confidence <= 0.0:
            return np.inf
        return (1.0 - min_confidence) / (min_confidence * self.reference_cost_usd)

    def choose(
        self,
        pass_proba: np.ndarray,
        costs: np.ndarray,
        min_confidence: float,
        allowed: np.ndarray | None = None,
        expected_score: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One model column per prompt, and whether the knob's rule was met for it.

        ``expected_score`` (default: ``pass_proba``) is the value the utility maximises; the
        threshold rule reads only ``pass_proba``. ``met`` is, for ``threshold``, "some allowed
        model cleared min_confidence"; for ``utility`` it is always true (the utility maximum
        always exists).
        """
        allowed_mask = np.ones(pass_proba.shape[1], dtype=bool) if allowed is None else allowed
        keys = self._keys(pass_proba, costs, min_confidence, allowed_mask, expected_score)
        chosen = lexicographic_argmin(*keys)
        if self.name == "utility":
            return chosen, np.ones(len(pass_proba), dtype=bool)
        return chosen, ~keys[0].all(axis=1)  # keys[0]: "not confident"

    def rank(
        self,
        proba: np.ndarray,
        costs: np.ndarray,
        allowed: np.ndarray,
        min_confidence: float,
        expected_score: np.ndarray | None = None,
    ) -> list[int]:
        """Allowed model columns for one prompt, in the order the policy prefers them (its choice
        first: the same keys as :meth:`choose`)."""
        value = None if expected_score is None else expected_score[None]
        keys = self._keys(proba[None], costs[None], min_confidence, allowed, value)
        return [int(j) for j in lexicographic_order(*keys)[0] if allowed[j]]

    def _keys(
        self,
        pass_proba: np.ndarray,
        costs: np.ndarray,
        min_confidence: float,
        allowed: np.ndarray,
        expected_score: np.ndarray | None,
    ) -> tuple[np.ndarray, ...]:
        """Sort keys per (prompt, model): the policy prefers the lexicographically smallest, then
        the first column; models not allowed sort last.

        ``threshold``: the confident models by (cost, -P(pass)), then the others by (-P(pass),
        cost). ``utility``: by (-utility, cost), or (cost, -value) at an infinite cost weight.
        """
        masked_costs = np.where(allowed, costs, np.inf)
        if self.name == "utility":
            value = pass_proba if expected_score is None else expected_score
            value = np.where(allowed, value, -np.inf)
            weight = self.cost_weight(min_confidence)
            if np.isinf(weight):
                return masked_costs, -value
            finite_costs = np.where(np.isinf(masked_costs), 0.0, masked_costs)
            return -(value - weight * finite_costs), masked_costs
        proba = np.where(allowed, pass_proba, -np.inf)
        confident = proba >= min_confidence
        return (
            ~confident,
            np.where(confident, masked_costs, -proba),
            np.where(confident, -proba, masked_costs),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def confidence_grid(step: float = 0.005) -> np.ndarray:
    """The ``min_confidence`` values a sweep visits: 0, step, ..., 1."""
    return np.round(np.linspace(0.0, 1.0, round(1 / step) + 1), 6)
