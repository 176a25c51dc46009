"""Connector fixtures: the platforms' sample payloads, an app with every secret, loopback fakes
of an SMTP server and of Chatwoot's API (tests/fakes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.api.app import create_api
from bot.connectors.routes import connectors_router
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.infra.settings import Settings
from flows.journey import Journey
from storage.db import Database
from tests.clocks import FakeClock
from tests.fakes.chatwoot import FakeChatwoot, serve_chatwoot
from tests.fakes.smtp import SmtpHandler, serve_smtp

SAMPLES = Path(__file__).parent / "samples"
SECRETS = {
    "shopify_secret": "shpss_test_secret",
    "woocommerce_secret": "wc-test-secret",
    "aftership_secret": "aftership-test-secret",
    "chatwoot_secret": "chatwoot-test-secret",
    "helpdesk_secret": "helpdesk-test-secret",
}


def sample(name: str) -> dict[str, Any]:
    """Return a copy of a stored platform sample (tests/bot/connectors/samples, see SOURCES.md)."""
    value: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return value


def make_app(db: Database, journey: Journey, clock: FakeClock, **overrides: Any) -> App:
    """Return an app with every connector's secret set (and ``overrides``)."""
    settings = Settings(
        database_url=db.url, telegram_bot_username="moka_bot", quiet_hours="off", **{**SECRETS, **overrides}
    )
    return App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=clock))


def client(app: App) -> httpx.AsyncClient:
    """Return an HTTP client of the app's API with the connectors' routes."""
    transport = httpx.ASGITransport(app=create_api(app, [connectors_router()]))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def smtp() -> Iterator[tuple[int, type[SmtpHandler]]]:
    """Yield the port of a loopback fake SMTP server and its handler (``mails`` received)."""
    with serve_smtp() as served:
        yield served


@pytest.fixture
def chatwoot() -> Iterator[tuple[str, type[FakeChatwoot]]]:
    """Yield the base URL of a loopback fake Chatwoot and its handler class (state)."""
    with serve_chatwoot() as served:
        yield served
