"""The cost of sending a prompt to a model, as a gateway estimates it before the answer exists."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from router_ml.data.catalog import Catalog


@dataclass(frozen=True)
class CostRule:
    """Estimate a request's cost from the prompt alone.

    Prompt tokens are ``len(prompt) / chars_per_token``; the expected answer is
    ``output_ratio`` times as many tokens as the prompt. Both are stored in the artifact so that
    training labels and serving-time estimates use the same rule.
    """

    chars_per_token: float = 4.0
    output_ratio: float = 0.5

    def prompt_tokens(self, prompt_chars: np.ndarray) -> np.ndarray:
        """Estimated input tokens for prompts of ``prompt_chars`` characters."""
        return np.maximum(np.asarray(prompt_chars, dtype=np.float64) / self.chars_per_token, 1.0)

    def output_tokens(self, input_tokens: np.ndarray) -> np.ndarray:
        """Expected output tokens for requests of ``input_tokens`` input tokens."""
        return np.asarray(input_tokens, dtype=np.float64) * self.output_ratio

    def estimate(self, prompt_chars: np.ndarray, catalog: Catalog, models: list[str]) -> np.ndarray:
        """Cost matrix (prompts x models) in USD, from prompt lengths alone."""
        tokens_in = self.prompt_tokens(prompt_chars)
        return token_cost(tokens_in, self.output_tokens(tokens_in), catalog, models)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def token_cost(
    input_tokens: np.ndarray, output_tokens: np.ndarray, catalog: Catalog, models: list[str]
) -> np.ndarray:
    """Cost matrix (requests x models) in USD for the given token counts."""
    price_in = np.array([catalog[m].input_per_mtok for m in models]) / 1e6
    price_out = np.array([catalog[m].output_per_mtok for m in models]) / 1e6
    return np.outer(input_tokens, price_in) + np.outer(output_tokens, price_out)
