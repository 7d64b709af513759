"""The one exception hierarchy of router-ml; the CLI and the gRPC service each translate it once."""

from __future__ import annotations

from pathlib import Path


class RouterMLError(Exception):
    """Base class of every error router-ml raises on purpose."""


class DataError(RouterMLError):
    """An input file (evaluation log, catalog) is missing, malformed or inconsistent.

    The message names the file and, where known, the line (or row) and field.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        where = ":".join(str(part) for part in (self.path, line) if part is not None)
        prefix = f"{where}: " if where else ""
        suffix = "" if field is None else f" (field '{field}')"
        super().__init__(f"{prefix}{message}{suffix}")


def require_file(path: Path, what: str) -> None:
    """Raise :class:`DataError` naming ``path`` when it is a folder or does not exist; ``what``
    names the file expected there ("evaluation log", "catalog file")."""
    if path.is_dir():
        raise DataError(f"is a folder; expected the {what}", path=path)
    if not path.is_file():
        raise DataError(f"{what} does not exist", path=path)


class ConfigError(RouterMLError):
    """A parameter of a command or function is out of range or inconsistent."""


class EncoderError(RouterMLError):
    """The sentence-transformers encoder cannot be found or loaded."""


class ArtifactError(RouterMLError):
    """A router version folder is missing, incomplete, or fails hash verification."""


class RegistryError(RouterMLError):
    """A registry folder is missing, locked, or has no version to serve."""


class RegistryLockedError(RegistryError):
    """Another process holds a registry's lock (a retrain, promote or rollback is running)."""


class ServerStartError(RouterMLError):
    """A ``router-ml serve`` subprocess exited, or was not ready in time, before it served.

    The message gives the exit code or the time waited, and the end of the server's stderr.
    """


class InvalidRequestError(RouterMLError):
    """A routing request is invalid: empty prompt, unknown models, bad min_confidence."""


class ConversationError(RouterMLError):
    """A chat conversation has no user turn with content, a message without a role, or content of
    the wrong type; the server reports it as an invalid request, the log reader as a DataError."""


__all__ = [
    "ArtifactError",
    "ConfigError",
    "ConversationError",
    "DataError",
    "EncoderError",
    "InvalidRequestError",
    "RegistryError",
    "RegistryLockedError",
    "RouterMLError",
    "ServerStartError",
]
