"""Model catalog: candidate models and their prices (USD per 1M tokens), read from TOML."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from router_ml.errors import DataError, require_file

PRICE_FIELDS = ("input_per_mtok", "output_per_mtok")


@dataclass(frozen=True)
class ModelPrice:
    """Prices of one candidate model, in USD per 1M tokens."""

    name: str
    input_per_mtok: float
    output_per_mtok: float
    context_window: int | None = None


@dataclass(frozen=True)
class Catalog:
    """The candidate models a router may choose from, keyed by model id."""

    models: dict[str, ModelPrice]

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def __getitem__(self, name: str) -> ModelPrice:
        return self.models[name]

    def restricted_to(self, names: list[str]) -> Catalog:
        """Return a catalog holding only ``names``, in that order."""
        return Catalog({name: self.models[name] for name in names})

    def to_toml(self) -> str:
        """Serialise in the same ``[models."<id>"]`` form that :func:`load_catalog` reads."""
        blocks = []
        for price in self.models.values():
            lines = [
                f"[models.{_quote(price.name)}]",
                f"input_per_mtok = {price.input_per_mtok!r}",
                f"output_per_mtok = {price.output_per_mtok!r}",
            ]
            if price.context_window is not None:
                lines.append(f"context_window = {price.context_window}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _header_line(text: str, name: str) -> int | None:
    pattern = re.compile(
        r"^\s*\[\s*models\s*\.\s*(\"" + re.escape(name) + r"\"|" + re.escape(name) + r")\s*\]"
    )
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def _price(path: Path, text: str, name: str, table: object, field: str) -> float:
    line = _header_line(text, name)
    if not isinstance(table, dict) or field not in table:
        raise DataError(f"model '{name}' has no price", path=path, line=line, field=field)
    value = table[field]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(
            f"model '{name}' price must be a number, got {value!r}",
            path=path,
            line=line,
            field=field,
        )
    if value < 0:
        raise DataError(
            f"model '{name}' price must be >= 0, got {value}", path=path, line=line, field=field
        )
    return float(value)


def _context_window(path: Path, text: str, name: str, table: dict) -> int | None:
    value = table.get("context_window")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DataError(
            f"model '{name}' context_window must be a positive integer, got {value!r}",
            path=path,
            line=_header_line(text, name),
            field="context_window",
        )
    return value


def load_catalog(path: str | Path) -> Catalog:
    """Read a TOML catalog of ``[models."<id>"]`` tables with ``input_per_mtok``/``output_per_mtok``.

    Raises
    ------
    DataError
        When the file is missing, is not TOML, has no models, or a price is missing or negative.
    """
    path = Path(path)
    require_file(path, "catalog file")
    text = path.read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"not valid TOML: {exc}", path=path) from exc
    tables = document.get("models")
    if not isinstance(tables, dict) or not tables:
        raise DataError('no [models."<id>"] tables found', path=path, field="models")
    models = {}
    for name, table in tables.items():
        prices = [_price(path, text, name, table, field) for field in PRICE_FIELDS]
        models[name] = ModelPrice(name, *prices, _context_window(path, text, name, table))
    return Catalog(models)
