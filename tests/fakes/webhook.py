"""A loopback HTTP receiver for outgoing webhooks (the helpdesk's): records each POST, answers
scripted statuses (and headers), 200 once the script is used up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from tests.fakes.loopback import serve_http


class WebhookHandler(BaseHTTPRequestHandler):
    """``answers``: (status, headers) to give next, in order; ``received``: (JSON body, signature)."""

    answers: ClassVar[list[tuple[int, dict[str, str]]]] = []
    received: ClassVar[list[tuple[Any, str]]] = []
    last_body: ClassVar[bytes] = b""

    def do_POST(self) -> None:
        cls = type(self)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls.received.append((json.loads(body), self.headers.get("X-Cxbot-Signature", "")))
        cls.last_body = body
        status, headers = cls.answers.pop(0) if cls.answers else (200, {})
        self.send_response(status)
        for name, value in {"Content-Length": "0", **headers}.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve_webhook(*answers: int | tuple[int, dict[str, str]]) -> Iterator[tuple[str, type[WebhookHandler]]]:
    """Run a receiver on 127.0.0.1 answering ``answers`` first; yield its URL and handler class."""
    scripted = [a if isinstance(a, tuple) else (a, {}) for a in answers]
    handler = type("Hook", (WebhookHandler,), {"answers": scripted, "received": [], "last_body": b""})
    with serve_http(handler) as url:
        yield f"{url}/hook", handler
