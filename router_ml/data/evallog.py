"""Read evaluation logs (JSON Lines, optionally gzipped, CSV or Parquet; long or wide layout).

Every row becomes an :class:`Outcome`: one (prompt, model) evaluation result, with the file and
line it came from so that later checks can point at it. A prompt may be a chat conversation (a
list of ``{"role": ..., "content": ...}`` messages, under ``prompt`` or ``messages``); it is read
into the texts the server would embed and cost for the same conversation.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from router_ml.conversation import cost_text, embedded_text, read_messages, valid_utf8
from router_ml.errors import ConversationError, DataError, require_file

logger = logging.getLogger(__name__)

Layout = Literal["auto", "long", "wide"]
LAYOUTS: tuple[Layout, ...] = ("auto", "long", "wide")
LONG_REQUIRED = ("prompt_id", "model", "score")
#: A row's prompt is given as text or a conversation under ``prompt``, or as a conversation under
#: ``messages``.
PROMPT_FIELDS = ("prompt", "messages")
#: The names a long log may give a field (OpenAI's token counts, other tools' costs).
FIELD_NAMES = {
    "input_tokens": ("input_tokens", "prompt_tokens"),
    "output_tokens": ("output_tokens", "completion_tokens"),
    "cost_usd": ("cost_usd", "cost", "total_cost"),
}
#: Wide-layout columns that are not a model's score (RouterBench names included).
WIDE_RESERVED = frozenset(
    {
        "prompt_id",
        "sample_id",
        "prompt",
        "messages",
        "task",
        "eval_name",
        "timestamp",
        "split",
        "gold_answer",
        "answer",
        "reference",
        "oracle_model_to_route_to",
    }
).union(*FIELD_NAMES.values())
#: A wide log's cost column of a model is ``<model>|<suffix>`` with one of these suffixes.
WIDE_COST_SUFFIXES = ("cost_usd", "total_cost", "cost")
#: Row-index columns that pandas and pyarrow write beside the data (never a model).
INDEX_COLUMN = re.compile(r"|index|Unnamed: \d+|__index_level_\d+__")
#: Score cell texts that mean "no outcome" (pandas', R's and Python's spellings of NaN).
MISSING_CELLS = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>"})
#: Epoch numbers above these bounds count units per second: ms, us, ns (1e11 s is the year 5138).
EPOCH_UNITS = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))
#: Pass/fail scores as text (CSV "True", "false"), compared in lower case.
BOOLEAN_SCORES = {"true": 1.0, "false": 0.0}
#: A CSV ``prompt`` cell that starts as a list of objects and has a "role" or "content" key is a
#: conversation, which must then be JSON; any other cell ("[INST] ...", "[1, 2]") is plain text.
MESSAGES_CELL = re.compile(r"\s*\[\s*\{")
MESSAGE_KEY = re.compile(r"""["'](?:role|content)["']\s*:""")


@dataclass(frozen=True)
class ScoreScale:
    """The declared range of raw scores; scores are normalised to 0..1 with it."""

    low: float = 0.0
    high: float = 1.0

    def normalise(self, value: float) -> float:
        return (value - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class Outcome:
    """One model's evaluation result on one prompt, as read from a log.

    ``prompt`` is the text the router embeds and ``cost_text`` the text its cost is estimated
    from: a plain prompt is both; a conversation's are the server's texts for it (the system
    turns and the last user turn; every turn).
    """

    prompt_id: str
    prompt: str
    cost_text: str
    model: str
    score: float
    path: str
    line: int
    task: str | None = None
    timestamp: float | None = None
    split: str | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    cost_usd: float | None = None


def _open_text(path: Path) -> io.TextIOBase:
    """UTF-8 text, without the byte-order mark that Excel's "CSV UTF-8" and ``utf-8-sig`` write."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def _json_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open_text(path) as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"malformed JSON: {exc.msg} at column {exc.colno}", path=path, line=number
                ) from exc
            if not isinstance(row, dict):
                raise DataError("each line must be a JSON object", path=path, line=number)
            yield number, row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows numbered by the line a record starts on (a quoted prompt may span many lines)."""
    with _open_text(path) as handle:
        reader = csv.reader(handle, strict=True)
        start = 1
        try:
            header = next(reader, None)
            if not header:
                return
            repeated = sorted({f for f in header if header.count(f) > 1})
            if repeated:
                raise DataError(f"repeated column(s): {', '.join(repeated)}", path=path, line=1)
            start = reader.line_num + 1
            for fields in reader:
                if fields:  # csv yields [] for a blank line
                    if len(fields) != len(header):
                        raise DataError(
                            f"malformed CSV row: expected {len(header)} fields, got {len(fields)}",
                            path=path,
                            line=start,
                        )
                    values = zip(header, fields, strict=True)
                    yield start, {k: (None if v == "" else v) for k, v in values}
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(f"malformed CSV: {exc}", path=path, line=start) from exc


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise DataError(f"cannot read Parquet: {exc}", path=path) from exc
    yield from enumerate(table.to_pylist(), start=1)


READERS = {
    ".jsonl": _json_rows,
    ".ndjson": _json_rows,
    ".json": _json_rows,
    ".csv": _csv_rows,
    ".parquet": _parquet_rows,
}
#: How a log's file name may end (Parquet compresses itself: it has no ``.gz`` form).
LOG_SUFFIXES = tuple(
    f"{suffix}{gz}" for suffix in READERS for gz in ("", ".gz") if suffix != ".parquet" or not gz
)


def _format(path: Path) -> str | None:
    """The reader's key (``.csv`` for ``log.csv.gz``) of a log's file name, or None."""
    suffix = next((s for s in LOG_SUFFIXES if path.name.lower().endswith(s)), None)
    return None if suffix is None else suffix.removesuffix(".gz")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = _format(path)
    if suffix is None:
        raise DataError(
            f"unknown log format '{''.join(path.suffixes)}'; expected one of "
            f"{', '.join(LOG_SUFFIXES)}",
            path=path,
        )
    reader = READERS[suffix]
    try:
        yield from reader(path)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read file: {exc}", path=path) from exc


def _boolean(value: Any) -> float | None:
    """1.0 or 0.0 for a boolean or its text in any case, else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return BOOLEAN_SCORES.get(value.strip().lower())
    return None


def _missing_cell(value: Any) -> bool:
    """Is a score cell empty: None, a NaN float, or a NaN/NA text in any case?"""
    if isinstance(value, float):
        return math.isnan(value)
    return value is None or (isinstance(value, str) and value.strip().lower() in MISSING_CELLS)


def _epoch_seconds(number: float) -> float:
    """Seconds of an epoch time given in seconds, ms, us or ns, told apart by its size."""
    for bound, per_second in EPOCH_UNITS:
        if abs(number) > bound:
            return number / per_second
    return number


def _utc_seconds(moment: datetime) -> float:
    """Epoch seconds of ``moment``; a time without a zone is UTC (never the machine's zone)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class _Row:
    """Typed access to one raw row's fields, raising DataError with file, line and field.

    ``text_cells``: the row is a CSV record, whose every value is text (a conversation too).
    """

    def __init__(self, path: Path, line: int, values: dict[str, Any], text_cells: bool) -> None:
        self.path, self.line, self.values, self.text_cells = path, line, values, text_cells

    def error(self, message: str, field: str) -> DataError:
        return DataError(message, path=self.path, line=self.line, field=field)

    def text(self, field: str, *, required: bool) -> str | None:
        value = self.values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.error("missing or empty value", field)
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.error(f"expected text, got {type(value).__name__}", field)
        return str(value)

    def number(self, field: str, *, required: bool) -> float | None:
        value = self.values.get(field)
        if value is None:
            if required:
                raise self.error("missing value", field)
            return None
        return self._finite(value, field)

    def _finite(self, value: Any, field: str) -> float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(f"not a number: {value!r}", field) from None
        if not math.isfinite(number):
            raise self.error(f"not a finite number: {value!r}", field)
        return number

    def given(self, names: tuple[str, ...]) -> str:
        """The one of ``names`` (a field's names) that has a value here, else the first."""
        present = [name for name in names if self.values.get(name) is not None]
        if len(present) > 1:
            raise self.error(
                f"both '{present[0]}' and '{present[1]}' are given; they name the same field",
                present[1],
            )
        return present[0] if present else names[0]

    def non_negative(self, *names: str) -> float | None:
        """The value of the field called any one of ``names``, if given; it must be >= 0."""
        field = self.given(names)
        number = self.number(field, required=False)
        if number is not None and number < 0:
            raise self.error(f"must be >= 0, got {number}", field)
        return number

    def score(self, field: str, scale: ScoreScale) -> float:
        """The score in ``field``, normalised to 0..1; the caller skips an empty cell."""
        value = self.values.get(field)
        verdict = _boolean(value)
        if verdict is not None:
            return verdict  # pass or fail: the top or the bottom of any declared scale
        raw = self._finite(value, field)
        if not scale.low <= raw <= scale.high:
            raise self.error(
                f"score {raw} is outside the declared scale [{scale.low}, {scale.high}]", field
            )
        return scale.normalise(raw)

    def timestamp(self) -> float | None:
        value = self.values.get("timestamp")
        if value is None:
            return None
        if isinstance(value, datetime):
            return _utc_seconds(value)
        try:
            return _epoch_seconds(float(value))
        except (TypeError, ValueError):
            pass
        try:
            return _utc_seconds(datetime.fromisoformat(str(value)))
        except ValueError:
            raise self.error(
                f"not an ISO 8601 time or an epoch number: {value!r}", "timestamp"
            ) from None

    def split(self) -> str | None:
        """The ``split`` value in lower case, without surrounding space ("Test " is "test")."""
        value = self.text("split", required=False)
        return None if value is None else value.strip().lower()

    def prompt_texts(self) -> dict[str, str]:
        """The texts to embed and to cost of the row's prompt, or of its conversation."""
        field = self.given(tuple(f for f in PROMPT_FIELDS if f in self.values) or PROMPT_FIELDS)
        value = self.values.get(field)
        if value is not None and (
            field == "messages" or isinstance(value, list) or self._messages_cell(value)
        ):
            return self._conversation(field, value)
        text = valid_utf8(self.text(field, required=True))
        return {"prompt": text, "cost_text": text}

    def _messages_cell(self, value: Any) -> bool:
        return (
            self.text_cells
            and isinstance(value, str)
            and bool(MESSAGES_CELL.match(value) and MESSAGE_KEY.search(value))
        )

    def _conversation(self, field: str, value: Any) -> dict[str, str]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise self.error(f"malformed JSON conversation: {exc}", field) from None
        try:
            messages = read_messages(value)
            return {"prompt": embedded_text(messages), "cost_text": cost_text(messages)}
        except ConversationError as exc:
            raise self.error(f"conversation: {exc}", field) from None

    def common(self) -> dict[str, Any]:
        return {
            **self.prompt_texts(),
            "path": str(self.path),
            "line": self.line,
            "task": self.text("task", required=False) or self.text("eval_name", required=False),
            "timestamp": self.timestamp(),
            "split": self.split(),
        }


def _long_outcomes(rows: Iterator[_Row], scale: ScoreScale) -> Iterator[Outcome]:
    """One outcome per row; a row whose score is empty, NaN or null is a missing outcome (the
    eval did not run for that pair), as an empty cell of the wide layout is."""
    unscored = 0
    for row in rows:
        for field in LONG_REQUIRED:
            if field not in row.values:
                raise row.error("missing column", field)
        if not any(field in row.values for field in PROMPT_FIELDS):
            raise row.error("missing column (a prompt, or its conversation as messages)", "prompt")
        fields = {
            "prompt_id": row.text("prompt_id", required=True),
            "model": row.text("model", required=True),
            "input_tokens": row.non_negative(*FIELD_NAMES["input_tokens"]),
            "output_tokens": row.non_negative(*FIELD_NAMES["output_tokens"]),
            "cost_usd": row.non_negative(*FIELD_NAMES["cost_usd"]),
            **row.common(),
        }
        if _missing_cell(row.values["score"]):
            unscored += 1
            continue
        yield Outcome(score=row.score("score", scale), **fields)
    if unscored:
        logger.warning(
            "%s: %d row(s) without a score (empty, NaN or null) read as missing outcomes",
            row.path,
            unscored,
        )


def _wide_models(fields: list[str]) -> list[str]:
    """Every column not reserved, not an index and without ``|`` is a model's score column."""
    models = [
        f
        for f in fields
        if f not in WIDE_RESERVED and "|" not in f and not INDEX_COLUMN.fullmatch(f)
    ]
    return models + [
        f.split("|", 1)[0] for f in fields if "|" in f and f.split("|", 1)[0] not in models
    ]


def _wide_outcomes(rows: Iterator[_Row], scale: ScoreScale) -> Iterator[Outcome]:
    for row in rows:
        values = row.values
        id_field = "prompt_id" if "prompt_id" in values else "sample_id"
        if id_field not in values:
            raise row.error(
                "missing column (wide layout needs prompt_id or sample_id)", "prompt_id"
            )
        common = row.common()
        prompt_id = row.text(id_field, required=True)
        for model in _wide_models(list(values)):
            if model not in values:
                column = next(f for f in values if f.startswith(f"{model}|"))
                raise row.error(f"column '{column}' has no score column beside it", model)
            if _missing_cell(values[model]):
                continue  # no outcome for this model (the prompt is incomplete)
            yield Outcome(
                prompt_id=prompt_id,
                model=model,
                score=_wide_score(row, model, scale),
                input_tokens=row.non_negative(*FIELD_NAMES["input_tokens"]),
                cost_usd=row.non_negative(*(f"{model}|{s}" for s in WIDE_COST_SUFFIXES)),
                **common,
            )


def _wide_score(row: _Row, model: str, scale: ScoreScale) -> float:
    """Column ``model``'s score; an error says that the column was taken for a model's."""
    try:
        return row.score(model, scale)
    except DataError as exc:
        message = f"wide layout: column '{model}' is taken for a model's score: {exc.message}"
        raise row.error(message, model) from None


def _detect_layout(path: Path, line: int, fields: list[str]) -> Layout:
    if "model" in fields or "score" in fields:
        return "long"  # a long log missing one of the two is reported as a missing column
    if any(f in fields for f in PROMPT_FIELDS) and _wide_models(fields):
        return "wide"
    raise DataError(
        "cannot tell the layout: a long log needs 'model' and 'score' columns, a wide log needs "
        "'prompt' (or 'messages') and one score column per model (or pass --layout)",
        path=path,
        line=line,
    )


def read_log(
    path: str | Path, *, layout: Layout = "auto", scale: ScoreScale | None = None
) -> list[Outcome]:
    """Read one evaluation log file into outcomes.

    Raises
    ------
    DataError
        When the file is missing, empty, malformed, or a row has a bad field; the message names
        the file, line and field.
    """
    path = Path(path)
    require_file(path, "evaluation log")
    return parse_rows(path, _rows(path), layout=layout, scale=scale)


def parse_rows(
    path: str | Path,
    rows: Iterator[tuple[int, dict[str, Any]]],
    *,
    layout: Layout = "auto",
    scale: ScoreScale | None = None,
) -> list[Outcome]:
    """Turn the raw rows of one log, ``(line number, fields)`` pairs, into outcomes.

    :func:`read_log` reads the rows itself; other readers (Ray Data) hand theirs in here, so that
    every row is checked the same way.

    Raises
    ------
    DataError
        When there is no row, the layout cannot be told, or a row has a bad field.
    """
    path = Path(path)
    first = next(rows, None)
    if first is None:
        raise DataError("evaluation log is empty", path=path)
    chosen = _detect_layout(path, first[0], list(first[1])) if layout == "auto" else layout
    text_cells = _format(path) == ".csv"
    stream = (_Row(path, line, values, text_cells) for line, values in _chain(first, rows))
    outcomes = _long_outcomes if chosen == "long" else _wide_outcomes
    return list(outcomes(stream, scale or ScoreScale()))


def _chain(first: tuple[int, dict], rest: Iterator[tuple[int, dict]]) -> Iterator[tuple[int, dict]]:
    yield first
    yield from rest


def read_logs(
    paths: list[str | Path], *, layout: Layout = "auto", scale: ScoreScale | None = None
) -> list[Outcome]:
    """Read and concatenate several evaluation logs."""
    if not paths:
        raise DataError("no evaluation log given")
    return [outcome for path in paths for outcome in read_log(path, layout=layout, scale=scale)]
