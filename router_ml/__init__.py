"""router-ml: a learned routing classifier for LLM gateways.

Load a trained version and route a prompt::

    from router_ml import Router
    decision = Router.load("models").route("What is 2 + 2?")
"""

from router_ml.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    EncoderError,
    InvalidRequestError,
    RegistryError,
    RouterMLError,
)
from router_ml.routing.router import ModelEstimate, RouteDecision, Router

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
