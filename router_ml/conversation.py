"""A chat conversation as the router reads it: the text it embeds and the text it costs.

The server (a RouteRequest's ``messages``), the client (OpenAI-style content parts) and the
evaluation log reader (a prompt logged as a conversation) all take these rules from here, so that
training embeds and costs a conversation exactly as serving does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from router_ml.errors import ConversationError

SYSTEM_ROLES = frozenset({"system", "developer"})
USER_ROLE = "user"
TURN_SEPARATOR = "\n\n"


class Turn(Protocol):
    """One message of a conversation: a protobuf ``Message`` or a :class:`Message`."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


@dataclass(frozen=True)
class Message:
    """One message read from a ``{"role": ..., "content": ...}`` mapping, its content as text."""

    role: str
    content: str


def message_text(content: Any) -> str:
    """A chat message's text: a string, None (no text), or OpenAI-style content parts.

    Raises
    ------
    TypeError
        When ``content`` is none of these, or a text part's ``text`` is not a string.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return valid_utf8(content)
    if isinstance(content, Sequence):
        return "\n".join(text for text in map(_part_text, content) if text)
    raise TypeError(f"message content must be text, None or a list of parts, got {content!r:.80}")


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return valid_utf8(part)
    if isinstance(part, Mapping) and part.get("type") == "text":
        text = part.get("text")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"a text part's text must be a string, got {text!r:.80}")
        return valid_utf8(text or "")
    return ""


def valid_utf8(text: str) -> str:
    """``text`` with lone surrogates (from JSON such as ``"\\ud800"``) replaced: protobuf takes UTF-8 only."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def read_messages(messages: Any) -> list[Message]:
    """Check chat messages given as ``{"role": ..., "content": ...}`` mappings and read their text.

    Raises
    ------
    ConversationError
        When ``messages`` is not a list of mappings, or a message has no role or a content of the
        wrong type; the message names its position (``messages[2]``).
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise ConversationError(f"expected a list of messages, got {type(messages).__name__}")
    return [_message(i, message) for i, message in enumerate(messages)]


def _message(index: int, message: Any) -> Message:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise ConversationError(f"{where} is not an object: {message!r:.80}")
    role = message.get("role")
    if not isinstance(role, str) or not role.strip():
        raise ConversationError(
            f"{where} needs a role ('system', 'user', 'assistant', ...), got {role!r:.40}"
        )
    try:
        return Message(role, message_text(message.get("content")))
    except TypeError as exc:
        raise ConversationError(f"{where}: {exc}") from None


def embedded_text(turns: Sequence[Turn]) -> str:
    """What the router embeds for a conversation: the last user turn's content, then that of
    every system (or developer) turn that has one, joined by a blank line.

    The user turn comes first because the encoder keeps only the head of a text (256 tokens for
    all-MiniLM-L6-v2): a long system prompt placed first would hide every question behind it and
    route all of an application's requests alike (``training/EXPERIMENTS.md`` §14).

    Raises
    ------
    ConversationError
        When there is no user turn, or the last one has no content.
    """
    system = [t.content for t in turns if t.role in SYSTEM_ROLES and t.content.strip()]
    users = [t.content for t in turns if t.role == USER_ROLE]
    if not users or not users[-1].strip():
        raise ConversationError("no user turn with content (role 'user')")
    return TURN_SEPARATOR.join([users[-1], *system])


def cost_text(turns: Sequence[Turn]) -> str:
    """What a conversation's cost is estimated from: every turn's content, joined by a blank line."""
    return TURN_SEPARATOR.join(t.content for t in turns)
