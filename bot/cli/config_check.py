"""Refusing a bad configuration at start-up, naming the variable and the reason."""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails, PydanticUndefined

from bot.infra.settings import Settings, quiet_hours
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
        errors = exc.errors()
        problems = [_problem(err) for err in errors]
        # Also report what is wrong across settings, judged with the bad ones at their defaults.
        bad = {str(err["loc"][0]) for err in errors if err["loc"]}
        defaults = {name: Settings.model_fields[name].get_default(call_default_factory=True) for name in bad}
        with contextlib.suppress(ValidationError):
            problems += check_settings(Settings(**{**overrides, **defaults}))
        raise ConfigError("bad configuration: " + "; ".join(problems)) from None
    problems = check_settings(settings)
    if problems:
        raise ConfigError("bad configuration: " + "; ".join(problems))
    return settings


def _problem(err: ErrorDetails) -> str:
    """Return one ``CXBOT_NAME: reason`` line for a pydantic error (choices spelled plainly)."""
    where = env_name(str(err["loc"][0])) if err["loc"] else "settings"
    if err["type"] == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", "")).replace("'", "")
        reason = f"must be {expected}, not {err['input']!r}"
    elif err["type"] in ("url_parsing", "url_scheme", "url_type"):
        reason = f"not an http(s) URL ({err['msg']}): {err['input']!r}"
    else:
        reason = err["msg"].removeprefix("Value error, ")
    return f"{where}: {reason}"


def check_settings(settings: Settings) -> list[str]:
    """Return the problems of settings that are well-typed but unusable together."""
    problems: list[str] = []
    try:
        quiet_hours(settings)
    except ConfigError as exc:
        message = str(exc)
        field = (
            "holiday_country"
            if "country" in message
            else "holiday_subdivision"
            if "subdivision" in message
            else "holiday_extra_dates"
        )
        problems.append(f"{env_name(field)}: {message}")
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else None
    if token is not None and (":" not in token or not token.split(":", 1)[0].isdigit()):
        problems.append(f"{env_name('telegram_token')}: does not look like a bot token (digits:secret)")
    if settings.public_url and not settings.webhook_secret:
        problems.append(
            f"{env_name('webhook_secret')}: required when {env_name('public_url')} enables webhook mode"
        )
    if settings.public_url and not settings.public_url.startswith("https://"):
        problems.append(f"{env_name('public_url')}: Telegram webhooks need an https:// URL")
    from bot.connectors.config import check as check_connectors  # here: it imports the settings

    problems += check_connectors(settings)
    return problems


def config_warnings(settings: Settings) -> list[str]:
    """Return what is allowed but risky (printed by ``cxbot config``; the service still starts)."""
    warnings: list[str] = []
    if settings.agents_chat_id is not None and not settings.agent_ids:
        warnings.append(
            f"{env_name('agent_ids')} is not set: ANY member of the agents' chat "
            f"({env_name('agents_chat_id')}) can take, answer and resolve escalations; list the agents' "
            "user ids to allow only them"
        )
    return warnings


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


#: Set in .env.example because compose needs them (the others are commented out with their default).
_ENV_EXAMPLE_SET = {
    "telegram_token": "",
    "events_secret": "",
    "link_secret": "",
    "public_url": "",
    "webhook_secret": "",
}


def env_example() -> str:
    """Return the text of ``.env.example`` (generated by `make docs`, like the README's table)."""
    lines = [
        "# cxbot settings: copy to .env and fill in (`cp .env.example .env`). Generated by `make docs`.",
        '# Empty values mean "not set". Every variable is described in README.md, section Settings.',
        "",
        "# docker-compose.yml (PostgreSQL + workers + Caddy) also needs these two:",
        "POSTGRES_PASSWORD=",
        "CXBOT_DOMAIN=",
        "",
    ]
    for name, field in Settings.model_fields.items():
        if name in ("database_url", "http_host", "http_port"):
            continue  # set by the compose files
        lines.append(f"# {(field.description or '').strip()}")
        if name in _ENV_EXAMPLE_SET:
            lines.append(f"{env_name(name)}={_ENV_EXAMPLE_SET[name]}")
        else:
            default = field.default
            shown = (
                "" if default is PydanticUndefined or default is None or field.default_factory else default
            )
            lines.append(f"# {env_name(name)}={shown}")
    return "\n".join(lines) + "\n"
