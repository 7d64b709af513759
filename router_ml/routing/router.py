"""The fitted router: embeddings -> pass probabilities and expected scores -> a model choice."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from router_ml.artifact.manifest import read_verified
from router_ml.artifact.registry import resolve_version
from router_ml.data.catalog import Catalog, load_catalog
from router_ml.data.costs import CostRule
from router_ml.embedding.backends import Backend, load_encoder
from router_ml.embedding.encoder import Encoder
from router_ml.embedding.onnx_encoder import OnnxEncoder
from router_ml.errors import ArtifactError, InvalidRequestError
from router_ml.routing.decision import ModelEstimate, Reason, RouteDecision
from router_ml.routing.head_arrays import HeadArrays
from router_ml.routing.policy import LEGACY_UTILITY_VALUE, Policy

PASS_MODEL_FILE = "pass_model.joblib"
HEADS_FILE = "heads.npz"
LABEL_CLASSIFIER_FILE = "label_classifier.joblib"
CATALOG_FILE = "catalog.toml"
TRAINING_PROMPTS_FILE = "training_prompts.sha256"
REQUIRED_MANIFEST_FIELDS = (
    "version",
    "models",
    "encoder",
    "cost_rule",
    "policy",
    "threshold",
    "default_min_confidence",
)


class Router:
    """A loaded router version. Build one with :meth:`Router.load`.

    Routing evaluates ``heads`` (plain arrays, no scikit-learn import when the version has
    ``heads.npz``); the pickled estimators (``pass_model``, ``label_classifier``) are read from
    the version folder only when first used, e.g. by reports.
    """

    def __init__(
        self,
        folder: Path,
        manifest: dict[str, Any],
        catalog: Catalog,
        encoder: Encoder | OnnxEncoder,
        *,
        heads: HeadArrays | None = None,
        pass_model: Any = None,
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self._heads = heads
        self._pass_model = pass_model
        self.catalog = catalog
        self.encoder = encoder
        self.models: list[str] = list(manifest["models"])
        self.cost_rule = CostRule(**manifest["cost_rule"])
        self.policy = Policy(**{"value": LEGACY_UTILITY_VALUE, **manifest["policy"]})
        self.loaded_at = time.time()

    @property
    def pass_model(self) -> Any:
        """The pass-probability estimator (unpickled on first use; hashes verified at load)."""
        if self._pass_model is None:
            self._pass_model = joblib.load(self.folder / PASS_MODEL_FILE)
        return self._pass_model

    @property
    def heads(self) -> HeadArrays:
        """The heads as arrays: the version's ``heads.npz``, or derived once from the pickled
        estimator (versions written before ``heads.npz``)."""
        if self._heads is None:
            self._heads = self.pass_model.to_arrays()
        return self._heads

    @cached_property
    def label_classifier(self) -> Any:
        """The card's cheapest-passing classifier (unpickled on first use)."""
        return joblib.load(self.folder / LABEL_CLASSIFIER_FILE)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        encoder: str | Path | None = None,
        backend: Backend = "torch",
        threads: int | None = None,
    ) -> Router:
        """Load a version folder, or a registry's ``current``, verifying every file's hash first.

        Parameters
        ----------
        encoder : where the sentence-transformers encoder is found (torch backend); its weights
            must still match the manifest.
        backend : ``torch`` (sentence-transformers), ``onnx`` (the version's ONNX export,
            no torch import), ``onnx-int8``, or ``auto`` (``onnx`` when the version has it).
        threads : onnxruntime intra-op threads (onnx backend).

        Raises
        ------
        ArtifactError
            When a file is missing or altered, or the encoder differs from the one trained with.
        """
        folder = resolve_version(path)
        manifest = read_verified(folder)
        missing = [name for name in REQUIRED_MANIFEST_FIELDS if name not in manifest]
        if missing:
            raise ArtifactError(
                f"{folder}: manifest lacks {', '.join(missing)}; it was written by an older "
                "router-ml, retrain it with `router-ml train`"
            )
        resolved = load_encoder(backend, folder, manifest["encoder"], spec=encoder, threads=threads)
        heads = HeadArrays.load(folder / HEADS_FILE) if (folder / HEADS_FILE).is_file() else None
        return cls(folder, manifest, load_catalog(folder / CATALOG_FILE), resolved, heads=heads)

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def default_min_confidence(self) -> float:
        return float(self.manifest["default_min_confidence"])

    def training_prompt_hashes(self) -> set[str]:
        """sha256 of every prompt text the router was trained on."""
        return set((self.folder / TRAINING_PROMPTS_FILE).read_text(encoding="utf-8").split())

    def embed(self, prompts: Sequence[str]) -> np.ndarray:
        """Embed prompts with the router's encoder."""
        return self.encoder.encode(list(prompts))

    def pass_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Calibrated P(pass) per prompt (row) and model (column, in ``self.models`` order)."""
        return self.outcome_estimates(embeddings)[0]

    def outcome_estimates(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(pass) and the utility's value (expected score) per prompt (row) and model (column).

        A version trained before the score head (``policy.value`` ``pass_probability``) has no
        expected score: its value is P(pass), what its default ``min_confidence`` was chosen with.
        """
        proba, score = self.heads.predict(embeddings)
        proba = np.clip(proba, 0.0, 1.0)
        if self.policy.value == "pass_probability":
            return proba, proba
        return proba, np.clip(score, 0.0, 1.0)

    def estimate_costs(self, prompts: Sequence[str]) -> np.ndarray:
        """Estimated USD cost per prompt (row) and model (column), from prompt length."""
        return self.cost_rule.estimate(
            np.array([len(p) for p in prompts]), self.catalog, self.models
        )

    def _allowed_mask(self, allowed_models: Sequence[str] | None) -> np.ndarray:
        if not allowed_models:
            return np.ones(len(self.models), dtype=bool)
        allowed = set(allowed_models)
        mask = np.array([m in allowed for m in self.models])
        if not mask.any():
            raise InvalidRequestError(
                f"allowed_models names no model this router knows: "
                f"{', '.join(sorted(allowed))}; it knows: {', '.join(self.models)}"
            )
        return mask

    def unknown_models(self, allowed_models: Sequence[str] | None) -> list[str]:
        """The names in ``allowed_models`` this version does not know (they are ignored)."""
        return sorted(set(allowed_models or ()) - set(self.models))

    def _knob(self, min_confidence: float | None) -> float:
        if min_confidence is None:
            return self.default_min_confidence
        value = float(min_confidence)
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise InvalidRequestError(
                f"min_confidence must be a number in [0, 1], got {min_confidence!r}"
            )
        return value

    def check_request(
        self,
        prompts: Sequence[str],
        min_confidence: float | None,
        allowed_models: Sequence[str] | None,
    ) -> tuple[float, np.ndarray]:
        """Validate a request; returns the effective ``min_confidence`` and allowed-model mask."""
        for i, prompt in enumerate(prompts):
            if not prompt or not prompt.strip():
                raise InvalidRequestError(
                    f"prompt {i} is empty" if len(prompts) > 1 else "prompt is empty"
                )
        return self._knob(min_confidence), self._allowed_mask(allowed_models)

    def _reason(self, met: bool) -> Reason:
        if self.policy.name == "utility":
            return "max_expected_utility"
        return "met_min_confidence" if met else "none_met_min_confidence"

    def outcomes(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """P(pass) and the utility's value per prompt and model: one encoder call, one heads call."""
        return self.outcome_estimates(self.embed(prompts))

    def decide(
        self, embeddings: np.ndarray, costs: np.ndarray, min_confidence: float, allowed: np.ndarray
    ) -> list[RouteDecision]:
        """Turn embeddings and cost estimates into decisions (request already checked)."""
        return self.choose(*self.outcome_estimates(embeddings), costs, min_confidence, allowed)

    def choose(
        self,
        proba: np.ndarray,
        value: np.ndarray,
        costs: np.ndarray,
        min_confidence: float,
        allowed: np.ndarray,
    ) -> list[RouteDecision]:
        """Turn :meth:`outcomes` and cost estimates into decisions (request already checked)."""
        chosen, met = self.policy.choose(proba, costs, min_confidence, allowed, value)
        unrestricted = (
            chosen
            if allowed.all()
            else self.policy.choose(proba, costs, min_confidence, expected_score=value)[0]
        )
        decisions = []
        for i in range(len(proba)):
            order = self.policy.rank(proba[i], costs[i], allowed, min_confidence, value[i])
            decisions.append(
                RouteDecision(
                    model=self.models[chosen[i]],
                    confidence=float(proba[i, chosen[i]]),
                    reason=self._reason(bool(met[i])),
                    restricted_by_allowed_models=bool(chosen[i] != unrestricted[i]),
                    min_confidence=min_confidence,
                    ranked=tuple(
                        ModelEstimate(
                            self.models[j],
                            float(proba[i, j]),
                            float(costs[i, j]),
                            float(value[i, j]),
                        )
                        for j in order
                    ),
                    router_version=self.version,
                )
            )
        return decisions

    def route_many(
        self,
        prompts: Sequence[str],
        min_confidence: float | None = None,
        allowed_models: Sequence[str] | None = None,
    ) -> list[RouteDecision]:
        """Route several prompts with one batched encoder call."""
        knob, allowed = self.check_request(prompts, min_confidence, allowed_models)
        return self.decide(self.embed(prompts), self.estimate_costs(prompts), knob, allowed)

    def route(
        self,
        prompt: str,
        min_confidence: float | None = None,
        allowed_models: Sequence[str] | None = None,
    ) -> RouteDecision:
        """Route one prompt with the version's policy at ``min_confidence``."""
        return self.route_many([prompt], min_confidence, allowed_models)[0]

    def warm_up(self) -> None:
        """Run one route so the first real request does not pay for lazy initialisation."""
        self.route("warm-up prompt for the router")
