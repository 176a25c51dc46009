"""Connector fixtures: the platforms' sample payloads, an app with every secret, loopback fakes
of an SMTP server and of Chatwoot's API."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from bot.api.app import create_api
from bot.connectors.routes import connectors_router
from bot.service import Service
from bot.settings import Settings
from bot.wiring import App
from flows.journey import Journey
from storage.db import Database
from tests.clocks import FakeClock
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
    """Return a copy of a stored platform sample (tests/connectors/samples, see SOURCES.md)."""
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


class FakeChatwoot(BaseHTTPRequestHandler):
    """The parts of Chatwoot's application API cxbot uses (contacts, conversations, messages)."""

    calls: ClassVar[list[tuple[str, str, dict[str, Any], str]]] = []
    contacts: ClassVar[list[dict[str, Any]]] = []
    conversations: ClassVar[list[dict[str, Any]]] = []
    fail_next: ClassVar[list[int]] = []

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        cls = type(self)
        cls.calls.append((method, self.path, body, self.headers.get("api_access_token", "")))
        if cls.fail_next:
            self._reply(cls.fail_next.pop(0), {"error": "down"})
            return
        path = self.path.split("?")[0]
        base = re.match(r"^/api/v1/accounts/(\d+)(/.*)$", path)
        if base is None:
            self._reply(404, {})
            return
        rest = base.group(2)
        if method == "GET" and rest == "/contacts/search":
            query = httpx.URL(self.path).params.get("q")
            self._reply(200, {"payload": [c for c in cls.contacts if c["identifier"] == query]})
        elif method == "POST" and rest == "/contacts":
            contact = {
                "id": 100 + len(cls.contacts),
                "identifier": body.get("identifier"),
                "name": body.get("name"),
            }
            cls.contacts.append(contact)
            source = f"src-{contact['id']}"
            self._reply(200, {"payload": {"contact": contact, "contact_inbox": {"source_id": source}}})
        elif method == "POST" and rest == "/conversations":
            conversation = {"id": 500 + len(cls.conversations), **body, "messages": []}
            cls.conversations.append(conversation)
            self._reply(200, {"id": conversation["id"]})
        elif method == "POST" and (m := re.match(r"^/conversations/(\d+)/messages$", rest)):
            found = [c for c in cls.conversations if c["id"] == int(m.group(1))]
            if not found:
                self._reply(404, {})
                return
            found[0]["messages"].append(body)
            self._reply(200, {"id": len(found[0]["messages"]), **body})
        else:
            self._reply(404, {})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chatwoot() -> Iterator[tuple[str, type[FakeChatwoot]]]:
    """Yield the base URL of a loopback fake Chatwoot and its handler class (state)."""
    handler = type(
        "Chatwoot", (FakeChatwoot,), {"calls": [], "contacts": [], "conversations": [], "fail_next": []}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
