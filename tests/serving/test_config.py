"""Server settings are checked when made; an address in use fails loudly instead of sharing the port."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_helpers import HOST, server_config

from router_ml import ConfigError
from router_ml.serving import ServerConfig, create_server
from router_ml.serving.cli import ready_message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 70000}, "port must be in"),
        ({"max_prompt_bytes": 0}, "max_prompt_bytes must be at least 1"),
        ({"grace": 0}, "grace must be a positive"),
        ({"poll_interval": -1}, "poll_interval must be a positive"),
    ],
)
def test_bad_settings(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerConfig(model=Path("models"), **overrides)


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    first, port = create_server(server_config(tmp_path))
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on {HOST}:{port}"):
            create_server(server_config(tmp_path, port=port))
    finally:
        first.stop(0)


def test_ready_message_is_pasteable() -> None:
    text = ready_message("0.0.0.0", 50051, 9464, "v1")
    assert "on 0.0.0.0:50051" in text and "http://127.0.0.1:9464/metrics" in text
    assert 'router-ml route "What is the capital of France?" --target 127.0.0.1:50051' in text
    assert (
        'grpcurl -plaintext -d \'{"prompt": "What is the capital of France?"}\' 127.0.0.1:50051 router_ml.v1.Router/Route'
        in text
    )
    assert "[::1]:50051" in ready_message("::1", 50051, 9464, "v1")
