"""What ``router-ml retrain`` can be asked for: its engines.

Kept apart from :mod:`router_ml.retraining.job` so that building the command line (which every
``router-ml`` command does, ``serve`` included) imports no training code.
"""

from __future__ import annotations

from typing import Literal

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")
