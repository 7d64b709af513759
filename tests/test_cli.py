"""The command line's help texts and option checks, across every subcommand."""

from __future__ import annotations

import re

import pytest

from router_ml import cli
from router_ml.cli_options import EXIT_FAILED, EXIT_KEPT, EXIT_LOCKED, EXIT_OK

#: Each command with its required arguments, for checks of one more flag.
REQUIRED = {
    "train": ["train", "--data", "x", "--catalog", "y", "--out", "z"],
    "serve": ["serve", "--model", "m"],
    "route": ["route", "hello"],
    "report": ["report", "--model", "m", "--data", "x", "--catalog", "y", "--out", "z"],
    "bench": ["bench", "--model", "m"],
}


def _exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    out, err = capsys.readouterr()
    return stopped.value.code, " ".join(out.split()), err


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_help_states_each_default_once(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = _exit([command, "--help"], capsys)
    assert code == 0
    assert "(default: None)" not in text
    assert "(default: [])" not in text
    assert "(default: False)" not in text
    assert not re.search(r"default[^()]*\) \(default:", text), text


def test_help_still_states_a_default_the_text_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    _, text, _ = _exit(["serve", "--help"], capsys)
    assert "--port PORT gRPC port (0: any free) (default: 50051)" in text
    assert "(default: 64)" in text  # --rpc-threads


@pytest.mark.parametrize(
    ("command", "done"),
    [
        ("train", "published"),
        ("retrain", "promoted"),
        ("promote", "promoted"),
        ("rollback", "rolled back"),
    ],
)
def test_commands_that_lock_a_registry_state_their_exit_codes(
    command: str, done: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, text, _ = _exit([command, "--help"], capsys)
    kept = f"{EXIT_KEPT} champion kept (challenger rejected), " if command == "retrain" else ""
    assert (
        f"exit codes: {EXIT_OK} {done}, {kept}{EXIT_FAILED} failed, {EXIT_LOCKED} registry locked "
        "by another run." in text
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--data", "x", "--catalog", "y", "--out", "z", "--threshold", "2"],
            "argument --threshold: expected a number in [0, 1], got '2'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--tolerance", "-0.1"],
            "argument --tolerance: expected a number >= 0, got '-0.1'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--keep", "0"],
            "argument --keep: expected an integer >= 1, got '0'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--keep", "1.5"],
            "argument --keep: expected an integer >= 1, got '1.5'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--tolerance", "inf"],
            "argument --tolerance: expected a number >= 0, got 'inf'",
        ),
        (
            ["train", "--data", "x", "--catalog", "y", "--out", "z", "--threshold", "nan"],
            "argument --threshold: expected a number in [0, 1], got 'nan'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--window-days", "0"],
            "argument --window-days: expected a number > 0, got '0'",
        ),
        (
            ["bench", "--model", "m", "--open-loop", "25", "0"],
            "argument --open-loop: expected a number > 0, got '0'",
        ),
        (
            ["bench", "--model", "m", "--open-loop", "25", "--deadline", "-1"],
            "argument --deadline: expected a number > 0, got '-1'",
        ),
        (
            ["bench", "--model", "m", "--startup-timeout", "0"],
            "argument --startup-timeout: expected a number > 0, got '0'",
        ),
    ],
)
def test_out_of_range_options_are_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _exit(argv, capsys)
    assert code == 2
    assert err.splitlines()[-1].endswith(message)


@pytest.mark.parametrize(
    ("command", "flag", "value", "expected"),
    [
        ("train", "--max-seq-length", "0", "an integer >= 1"),
        ("serve", "--port", "70000", "an integer in [0, 65535]"),
        ("serve", "--metrics-port", "-1", "an integer in [0, 65535]"),
        ("serve", "--grace", "0", "a number > 0"),
        ("serve", "--drain-delay", "-1", "a number >= 0"),
        ("serve", "--max-prompt-bytes", "0", "an integer >= 1"),
        ("serve", "--max-message-bytes", "0", "an integer >= 1"),
        ("serve", "--max-batch", "0", "an integer >= 1"),
        ("serve", "--workers", "0", "an integer >= 1"),
        ("serve", "--rpc-threads", "2", "an integer >= 3"),
        ("serve", "--poll-interval", "0", "a number > 0"),
        ("serve", "--encoder-threads", "0", "an integer >= 1"),
        ("serve", "--decision-cache", "-1", "an integer >= 0"),
        ("route", "--min-confidence", "1.5", "a number in [0, 1]"),
        ("route", "--timeout", "0", "a number > 0"),
        ("report", "--bootstrap", "0", "an integer >= 1"),
        ("report", "--seed", "-1", "an integer >= 0"),
        ("bench", "--concurrency", "0", "an integer >= 1"),
        ("bench", "--requests", "0", "an integer >= 1"),
        ("bench", "--naive-requests", "1.5", "an integer >= 1"),
        ("bench", "--workers", "0", "an integer >= 1"),
    ],
)
def test_numeric_flags_are_checked_before_the_command_runs(
    command: str, flag: str, value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _exit([*REQUIRED[command], flag, value], capsys)
    assert code == 2
    assert err.splitlines()[-1].endswith(f"argument {flag}: expected {expected}, got {value!r}")


def test_each_of_several_values_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _exit([*REQUIRED["bench"], "--concurrency", "1", "0"], capsys)
    assert code == 2
    assert err.splitlines()[-1].endswith(
        "argument --concurrency: expected an integer >= 1, got '0'"
    )
