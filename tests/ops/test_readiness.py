"""/healthz, /readyz and the loud warning when no channel can deliver."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from bot.engine.wiring import build_app
from bot.infra.settings import Settings
from bot.observability.metrics import REGISTRY
from bot.runtime.serve import NO_DELIVERY, build_runtime


def _client(api: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://cxbot")


async def test_serve_without_a_delivery_channel_warns_in_logs_readyz_and_metrics(tmp_path: Path) -> None:
    """No Telegram token and no Rasa: a warning log, a /readyz warning (still ready) and a gauge at 1."""
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", _env_file=None))
    with capture_logs() as logs:
        runtime = build_runtime(app)
    assert {"event": "no_delivery_channel", "log_level": "warning", "detail": NO_DELIVERY} in logs
    async with _client(runtime.http_api()) as client:
        ready = await client.get("/readyz")
        live = await client.get("/healthz")
    assert ready.status_code == 200 and ready.json()["warnings"] == {"delivery": NO_DELIVERY}
    assert live.status_code == 200
    assert REGISTRY.get_sample_value("cxbot_no_delivery_channel") == 1.0
    app.db.dispose()


async def test_a_delivery_channel_removes_the_warning(tmp_path: Path) -> None:
    """With a channel that can deliver (Rasa here) /readyz has no warning and the gauge is 0."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'r.db'}", rasa_url="http://127.0.0.1:9", _env_file=None
    )
    app = build_app(settings)
    runtime = build_runtime(app)
    async with _client(runtime.http_api()) as client:
        body = (await client.get("/readyz")).json()
    assert body["ready"] is True and "warnings" not in body
    assert REGISTRY.get_sample_value("cxbot_no_delivery_channel") == 0.0
    app.db.dispose()


async def test_readyz_fails_when_the_database_is_unreachable_but_healthz_lives() -> None:
    """/readyz is 503 naming the database when it cannot be reached; /healthz still answers 200."""
    app = build_app(
        Settings(
            database_url="postgresql://u:p@127.0.0.1:5999/x", rasa_url="http://127.0.0.1:9", _env_file=None
        ),
        upgrade=False,
    )
    runtime = build_runtime(app)
    async with _client(runtime.http_api()) as client:
        ready = await client.get("/readyz")
        live = await client.get("/healthz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unreachable")
    assert live.status_code == 200


async def test_a_slow_channel_probe_is_reported_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel probe that hangs is reported as unreachable after the probe timeout; readiness holds."""
    import asyncio

    from bot.api import ops

    monkeypatch.setattr(ops, "PROBE_TIMEOUT", 0.05)
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", _env_file=None))
    runtime = build_runtime(app)

    async def hangs() -> str:
        await asyncio.sleep(5)
        return "ok"

    runtime.probes["telegram"] = hangs
    async with _client(runtime.http_api()) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["channels"]["telegram"].startswith("unreachable")
    assert REGISTRY.get_sample_value("cxbot_channel_up", {"channel": "telegram"}) == 0.0
    app.db.dispose()
