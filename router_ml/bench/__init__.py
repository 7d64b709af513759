"""``router-ml bench``: the real server under load from client processes, against a naive reference."""
