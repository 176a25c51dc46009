"""A loopback fake SMTP server: just enough SMTP to accept messages (escalations, deep links)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar


class SmtpHandler(socketserver.StreamRequestHandler):
    """Accepts every message; ``mails`` holds each one's DATA as received.

    ``refuse`` maps a verb (``MAIL``, ``RCPT``) to the reply given instead of ``250 OK``, e.g.
    ``"550 no such user"`` (refused for good) or ``"451 try again later"``.
    """

    mails: ClassVar[list[str]] = []
    refuse: ClassVar[dict[str, str]] = {}

    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._say("220 fake ESMTP")
        while line := self.rfile.readline().decode():
            verb = line.strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 fake")
            elif verb in type(self).refuse:
                self._say(type(self).refuse[verb])
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 go on")
                data = []
                while (part := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(part)
                type(self).mails.append("".join(data))
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 no")


@contextmanager
def serve_smtp() -> Iterator[tuple[int, type[SmtpHandler]]]:
    """Run a fake SMTP server on 127.0.0.1; yield its port and handler class (``mails`` received)."""
    handler = type("Smtp", (SmtpHandler,), {"mails": [], "refuse": {}})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()
