"""Refusing a bad configuration at start-up, naming the variable and the reason."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError
from pydantic_core import PydanticUndefined

from bot.settings import Settings
from flows.errors import ConfigError

PREFIX = "CXBOT_"


def env_name(field: str) -> str:
    """Return the environment variable of a settings field."""
    return f"{PREFIX}{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Return the settings from the environment and ``.env``, checked.

    Raises:
        ConfigError: naming each bad variable and why.
    """
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"{env_name(str(err['loc'][0])) if err['loc'] else 'settings'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems)) from None
    problems = check_settings(settings)
    if problems:
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems))
    return settings


def check_settings(settings: Settings) -> list[str]:
    """Return the problems of settings that are well-typed but unusable together."""
    problems: list[str] = []
    try:
        ZoneInfo(settings.company_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{env_name('company_timezone')}: unknown time zone {settings.company_timezone!r}")
    if settings.report_language not in ("it", "en"):
        problems.append(f"{env_name('report_language')}: must be it or en")
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else None
    if token is not None and (":" not in token or not token.split(":", 1)[0].isdigit()):
        problems.append(f"{env_name('telegram_token')}: does not look like a bot token (digits:secret)")
    if settings.public_url and not settings.webhook_secret:
        problems.append(
            f"{env_name('webhook_secret')}: required when {env_name('public_url')} enables webhook mode"
        )
    if settings.public_url and not settings.public_url.startswith("https://"):
        problems.append(f"{env_name('public_url')}: Telegram webhooks need an https:// URL")
    if not settings.database_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
        problems.append(f"{env_name('database_url')}: use sqlite:///FILE or postgresql://…")
    from bot.connectors.config import check as check_connectors  # here: it imports the settings

    problems += check_connectors(settings)
    return problems


def describe(settings: Settings) -> list[tuple[str, str]]:
    """Return (variable, value) pairs with secrets masked, for `cxbot status`."""
    rows = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown = "set (hidden)"
        elif value is None or value == []:
            shown = "—"
        elif name == "database_url":
            shown = _mask_url(str(value))
        else:
            shown = str(value)
        rows.append((env_name(name), shown))
    return rows


def _mask_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"
    return url


def settings_reference() -> str:
    """Return the Markdown table of every setting (the README's reference is generated from it)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is PydanticUndefined or default is None or field.default_factory is not None:
            shown = "—"
        else:
            shown = f"`{default}`"
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{env_name(name)}` | {shown} | {description} |")
    return "\n".join(lines)
