"""A loopback fake of the parts of Chatwoot's application API cxbot uses (contacts, conversations,
messages, status), keeping what it was sent for the tests to read."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx

from tests.fakes.loopback import serve_http


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
        elif method == "POST" and (m := re.match(r"^/conversations/(\d+)/(messages|toggle_status)$", rest)):
            found = [c for c in cls.conversations if c["id"] == int(m.group(1))]
            if not found:
                self._reply(404, {})
                return
            if m.group(2) == "toggle_status":  # Chatwoot: {"payload": {"success", "current_status"}}
                found[0]["status"] = body.get("status")
                self._reply(200, {"payload": {"success": True, "current_status": found[0]["status"]}})
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


@contextlib.contextmanager
def serve_chatwoot() -> Iterator[tuple[str, type[FakeChatwoot]]]:
    """Serve a fresh fake Chatwoot on 127.0.0.1; yield its base URL and its handler class (state)."""
    handler = type(
        "Chatwoot", (FakeChatwoot,), {"calls": [], "contacts": [], "conversations": [], "fail_next": []}
    )
    with serve_http(handler) as url:
        yield url, handler
