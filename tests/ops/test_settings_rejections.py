"""Settings are checked by their types: `cxbot config` and `cxbot serve` refuse exactly the same values."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.config_check import load_settings
from bot.cli.main import app
from flows.errors import ConfigError

#: (variable, bad value, what the one line says about it)
REJECTED = [
    ("CXBOT_QUIET_HOURS", "sometimes", "CXBOT_QUIET_HOURS: must be default or off, not 'sometimes'"),
    (
        "CXBOT_LOG_LEVEL",
        "LOUD",
        "CXBOT_LOG_LEVEL: must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not 'LOUD'",
    ),
    ("CXBOT_REPORT_LANGUAGE", "fr", "CXBOT_REPORT_LANGUAGE: must be it or en, not 'fr'"),
    ("CXBOT_DESK_LANGUAGE", "de", "CXBOT_DESK_LANGUAGE: must be it or en, not 'de'"),
    ("CXBOT_COMPANY_TIMEZONE", "Mars/Olympus", "CXBOT_COMPANY_TIMEZONE: unknown time zone 'Mars/Olympus'"),
    ("CXBOT_HTTP_PORT", "99999", "CXBOT_HTTP_PORT: Input should be less than or equal to 65535"),
    ("CXBOT_SMTP_PORT", "0", "CXBOT_SMTP_PORT: Input should be greater than or equal to 1"),
    ("CXBOT_COMMENT_RETENTION_MONTHS", "-1", "CXBOT_COMMENT_RETENTION_MONTHS: Input should be greater than"),
    ("CXBOT_TELEGRAM_API_URL", "api.telegram.org", "CXBOT_TELEGRAM_API_URL: not an http(s) URL"),
    ("CXBOT_RASA_URL", "ftp://rasa:5005", "CXBOT_RASA_URL: not an http(s) URL"),
    ("CXBOT_HELPDESK_WEBHOOK_URL", "desk", "CXBOT_HELPDESK_WEBHOOK_URL: not an http(s) URL"),
    ("CXBOT_PUBLIC_URL", "http://bot.example", "CXBOT_PUBLIC_URL: Telegram webhooks need an https:// URL"),
    ("CXBOT_DATABASE_URL", "mysql://db/cx", "CXBOT_DATABASE_URL: use sqlite:///FILE or postgresql://"),
    ("CXBOT_TELEGRAM_TOKEN", "not-a-token", "CXBOT_TELEGRAM_TOKEN: does not look like a bot token"),
    ("CXBOT_HOLIDAY_COUNTRY", "XX", "CXBOT_HOLIDAY_COUNTRY: unknown holiday country 'XX'"),
    ("CXBOT_HOLIDAY_SUBDIVISION", "ZZ", "CXBOT_HOLIDAY_SUBDIVISION: unknown subdivision 'ZZ' of IT"),
    ("CXBOT_HOLIDAY_EXTRA_DATES", "31-12", "CXBOT_HOLIDAY_EXTRA_DATES: extra holiday '31-12' is not MM-DD"),
    ("CXBOT_AGENT_IDS", "12,abc", "CXBOT_AGENT_IDS: invalid literal for int()"),
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env and no CXBOT_ variables from the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    import os

    for name in [n for n in os.environ if n.startswith("CXBOT_") and not n.startswith("CXBOT_TEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CXBOT_WEBHOOK_SECRET", "s")  # so PUBLIC_URL's own check is the one failing


@pytest.mark.parametrize(("variable", "value", "line"), REJECTED, ids=[r[0] for r in REJECTED])
def test_config_and_serve_reject_the_same_values(variable: str, value: str, line: str) -> None:
    """A bad value: `cxbot config` and `cxbot serve` both exit 2 with the same one line naming it."""
    outcomes = []
    for command in ("config", "serve"):
        result = CliRunner().invoke(app, [command], env={variable: value})
        lines = [text for text in result.stderr.splitlines() if text.strip()]
        outcomes.append((result.exit_code, lines))
    assert outcomes[0] == outcomes[1]
    code, lines = outcomes[0]
    assert code == 2 and len(lines) == 1 and line in lines[0], lines


@pytest.mark.parametrize(
    ("variable", "value", "stored"),
    [
        ("CXBOT_LOG_LEVEL", "debug", "DEBUG"),
        ("CXBOT_QUIET_HOURS", "OFF", "off"),
        ("CXBOT_RASA_URL", "", None),
    ],
)
def test_accepted_spellings_are_normalised(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, stored: str | None
) -> None:
    """Lower-case levels, upper-case choices and empty variables (a copied .env.example) are accepted."""
    monkeypatch.setenv(variable, value)
    settings = load_settings()
    assert getattr(settings, variable.removeprefix("CXBOT_").lower()) == stored


def test_every_problem_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two bad values and a missing companion setting are reported together, each with its variable."""
    monkeypatch.setenv("CXBOT_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("CXBOT_QUIET_HOURS", "sometimes")
    monkeypatch.delenv("CXBOT_WEBHOOK_SECRET")
    monkeypatch.setenv("CXBOT_PUBLIC_URL", "https://bot.example")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    for variable in ("CXBOT_LOG_LEVEL", "CXBOT_QUIET_HOURS", "CXBOT_WEBHOOK_SECRET: required"):
        assert variable in message
