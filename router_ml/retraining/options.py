"""What ``router-ml retrain`` can be asked for and answers: engines and exit codes.

Kept apart from :mod:`router_ml.retraining.job` so that building the command line (which every
``router-ml`` command does, ``serve`` included) imports no training code.
"""

from __future__ import annotations

from typing import Literal

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")
#: Exit codes of ``router-ml retrain`` besides 1 (failed): 75 is EX_TEMPFAIL, try again later.
EXIT_PROMOTED, EXIT_KEPT, EXIT_LOCKED = 0, 3, 75
