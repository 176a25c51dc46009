"""Metrics, readiness and logs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import structlog

from bot.api.app import create_api
from bot.engine.apply import Address
from bot.engine.wiring import App, build_app
from bot.infra.settings import Settings
from bot.observability.logs import configure_logging
from flows.conversation import Command, CommandName, Started


def _client(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api(app)), base_url="http://cxbot")


async def test_metrics_and_readiness(tmp_path: Path) -> None:
    """/metrics exposes handler counters and outbox depth; /readyz checks the database."""
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}"))
    app.service.feed("c-1", Started(bound=True), via=Address("telegram", "5"))
    app.service.feed("c-1", Command(name=CommandName.HELP), via=Address("telegram", "5"))
    async with _client(app) as client:
        body = (await client.get("/metrics")).text
        ready = await client.get("/readyz")
    assert 'cxbot_updates_handled_total{channel="telegram",kind="command"}' in body
    assert "cxbot_handler_seconds_bucket" in body
    assert 'cxbot_outbox_depth{channel="telegram"} 2.0' in body
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "migrations": "ok"}


async def test_readyz_fails_when_migrations_are_missing(tmp_path: Path) -> None:
    """/readyz answers 503 and says why when the schema is not migrated."""
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"), upgrade=False)
    async with _client(app) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "cxbot db upgrade" in ready.json()["checks"]["migrations"]


def test_logs_are_json_without_tokens_or_texts(capsys: pytest.CaptureFixture[str]) -> None:
    """Logs are JSON lines; message texts, comments and anything shaped like a bot token are redacted."""
    configure_logging("INFO")
    log = structlog.get_logger("test")
    token = "123456789:AAE" + "x" * 33
    log.info("update", text="il pacco è distrutto", comment="Via Roma 5", detail=f"bot {token}")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "update" and record["level"] == "info"
    assert record["text"] == "[redacted]" and record["comment"] == "[redacted]"
    assert "AAE" not in line and "[token]" in record["detail"]
    structlog.reset_defaults()
