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
    """A messaging channel failed to deliver."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(message)
