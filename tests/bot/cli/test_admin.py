"""Configuration checks, `cxbot status`, and the README's generated settings reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.config_check import load_settings, settings_reference
from bot.cli.main import app
from flows.errors import ConfigError

README = Path(__file__).resolve().parents[3] / "README.md"


def test_bad_configuration_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value is refused with the CXBOT_ variable and the reason."""
    monkeypatch.setenv("CXBOT_HTTP_PORT", "99999")
    with pytest.raises(ConfigError, match="CXBOT_HTTP_PORT: Input should be less than or equal to 65535"):
        load_settings()
    monkeypatch.delenv("CXBOT_HTTP_PORT")
    monkeypatch.setenv("CXBOT_COMPANY_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("CXBOT_PUBLIC_URL", "https://bot.example")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "CXBOT_COMPANY_TIMEZONE: unknown time zone 'Mars/Olympus'" in str(info.value)
    assert "CXBOT_WEBHOOK_SECRET: required when CXBOT_PUBLIC_URL" in str(info.value)


def test_status_masks_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`cxbot status` shows the configuration with secrets hidden, the schema state and pending work."""
    token = "123456:" + "S" * 35
    monkeypatch.setenv("CXBOT_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("CXBOT_TELEGRAM_TOKEN", token)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0  # status never creates a database
    result = CliRunner().invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert token not in result.output and "set (hidden)" in result.output
    assert "current" in result.output and "last weekly report" in result.output


def test_config_command_exits_non_zero_on_bad_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cxbot config` exits 2 and names the variable."""
    monkeypatch.setenv("CXBOT_REPORT_LANGUAGE", "fr")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 2
    assert "CXBOT_REPORT_LANGUAGE: must be it or en" in result.output


def test_readme_settings_reference_is_generated() -> None:
    """The README settings table is exactly `cxbot config --markdown` (`make docs` regenerates it)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- settings:start -->\n", 1)[1].split("\n<!-- settings:end -->", 1)[0]
    assert section == settings_reference()


def test_status_shows_connector_deliveries_waiting_for_a_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`cxbot status` lists unmapped and failed connector deliveries: kept, but needing someone."""
    from bot.infra.clock import utcnow
    from storage.db import Database
    from storage.tables import ConnectorDelivery

    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CXBOT_DATABASE_URL", url)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    db = Database(url)
    with db.write() as session:
        for n, status in enumerate(("unmapped", "unmapped", "failed", "ok")):
            session.add(
                ConnectorDelivery(
                    connector="shopify",
                    delivery_id=f"d{n}",
                    topic="orders/create",
                    body="{}",
                    status=status,
                    received_at=utcnow(),
                )
            )
    db.dispose()
    result = CliRunner().invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "connector deliveries shopify unmapped" in result.output
    assert "connector deliveries shopify failed" in result.output
    assert "shopify ok" not in result.output
