"""cxbot's runtime: channels, API, delivery, CLI."""

from bot import _without_rich

_without_rich.install()  # before any module imports structlog
