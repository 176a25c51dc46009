"""cxbot's one error tree. Edges (CLI, HTTP API, channels) translate these; nothing else does."""

from __future__ import annotations


class CxbotError(Exception):
    """Base of every error cxbot raises on purpose."""


class ConfigError(CxbotError):
    """The configuration (settings, journey file) is not usable."""


class JourneyError(ConfigError):
    """A journey file is invalid; ``problems`` lists each one with file, field and reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class InputError(CxbotError):
    """Input from outside (an event, a file line, a callback) is malformed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class AuthError(CxbotError):
    """A request is not authenticated (missing or wrong signature/secret)."""


class NotFoundError(CxbotError):
    """The thing asked for does not exist."""


class ConflictError(CxbotError):
    """A concurrent change won; the caller may retry."""


class StorageError(CxbotError):
    """The database failed in a way the caller cannot fix by changing its input."""


class ChannelError(CxbotError):
    """A messaging channel failed to deliver.

    Transports raise one of the four kinds below; the outbox sender decides what follows from
    the kind alone (``retry_after`` and ``permanent`` say it for a bare ``ChannelError``).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(message)


class Transient(ChannelError):
    """Worth trying again later (5xx, network errors, timeouts): retried with backoff."""


class RetryAfter(ChannelError):
    """Flood control (429): try again after ``seconds``; the wait is not a delivery attempt."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message, retry_after=max(0.0, seconds))


class Permanent(ChannelError):
    """Can never succeed as it is (400, 401, 404, an unknown kind): the message is dead-lettered."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class ChatBlocked(Permanent):
    """The recipient blocked the bot (Telegram 403): stop writing to this chat; keep its data."""

    def __init__(self, message: str = "blocked by the user") -> None:
        super().__init__(message)
