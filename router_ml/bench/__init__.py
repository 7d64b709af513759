"""``router-ml bench``: the real server under load from client processes, against a naive reference."""

#: The prompt sizes a bench measures (their character ranges are in ``run.SIZES``).
SIZE_NAMES = ("short", "medium", "long")
