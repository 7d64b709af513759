"""Write mmlu_pro with a ``split`` column: the 80/20 split of ../shared/notes/routing-evidence.md.

A prompt is ``test`` when ``int(md5(prompt_id), 16) % 5 == 0``. `router-ml train` honours the
column, so the held-out summary is on exactly the evidence's test prompts::

    python training/experiments/split_mmlu_pro.py ../shared/data/mmlu_pro/outcomes.jsonl.gz /tmp/mmlu_pro_split.jsonl.gz
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys


def main(source: str, target: str) -> None:
    with (
        gzip.open(source, "rt", encoding="utf-8") as rows,
        gzip.open(target, "wt", encoding="utf-8") as out,
    ):
        for line in rows:
            row = json.loads(line)
            test = int(hashlib.md5(row["prompt_id"].encode()).hexdigest(), 16) % 5 == 0
            out.write(json.dumps({**row, "split": "test" if test else "train"}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
