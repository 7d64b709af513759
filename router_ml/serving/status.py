"""The one place where errors become gRPC status codes.

Domain errors come from :mod:`router_ml.errors`; the conditions below belong to serving alone
and never leave the server except as their status codes.
"""

from __future__ import annotations

import logging

import grpc

from router_ml.errors import InvalidRequestError

logger = logging.getLogger(__name__)


class NotReadyError(Exception):
    """No router version is loaded and warm yet."""


class DeadlinePassedError(Exception):
    """The client's deadline passed before the work could be done."""


class OverloadedError(Exception):
    """The server cannot take the request now (it would not answer before the client's deadline,
    or every routing handler is busy), so it refuses it at once."""


STATUS_CODES: dict[type[BaseException], grpc.StatusCode] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    NotReadyError: grpc.StatusCode.UNAVAILABLE,
    DeadlinePassedError: grpc.StatusCode.DEADLINE_EXCEEDED,
    OverloadedError: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_of(exc: Exception, method: str) -> tuple[grpc.StatusCode, str]:
    """The status code and details for an error raised while handling ``method``.

    Unknown errors become INTERNAL, logged with their traceback; their text is not sent.
    """
    for kind, code in STATUS_CODES.items():
        if isinstance(exc, kind):
            return code, str(exc) or code.name.lower()
    logger.exception("%s failed", method, exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error; see the server log"
