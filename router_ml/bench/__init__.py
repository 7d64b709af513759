"""``router-ml bench``: the real server under load from client processes, against a naive reference."""

from pathlib import Path

#: The prompt sizes a bench measures (their character ranges are in ``run.SIZES``).
SIZE_NAMES = ("short", "medium", "long")
#: The evaluation log a bench takes its prompts from by default; only a source checkout has it.
BUNDLED = Path(__file__).resolve().parents[2] / "training" / "llmrouter_dc" / "outcomes.jsonl.gz"
