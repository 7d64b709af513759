"""router-ml: a learned routing classifier for LLM gateways.

Load a trained version and route a prompt::

    from router_ml import Router
    decision = Router.load("models").route("What is 2 + 2?")
"""

import importlib
from typing import Any

from router_ml.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    EncoderError,
    InvalidRequestError,
    RegistryError,
    RouterMLError,
)

#: Names loaded on first use, so that importing ``router_ml.client`` (or any light module) does
#: not load a router's numpy, joblib and onnxruntime stack.
_LAZY = {
    "ModelEstimate": "router_ml.routing.decision",
    "RouteDecision": "router_ml.routing.decision",
    "Router": "router_ml.routing.router",
}

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DataError",
    "EncoderError",
    "InvalidRequestError",
    "ModelEstimate",
    "RegistryError",
    "RouteDecision",
    "Router",
    "RouterMLError",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'router_ml' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
