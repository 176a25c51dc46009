"""Request bodies read with a size limit enforced while streaming.

A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked body
(no length) or a lying length is refused as soon as the running total passes the limit, so an
attacker can never make the server buffer more than ``limit`` bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from bot.infra.asgi import Receive, Scope, header


class BodyTooLarge(Exception):
    """The body exceeds the limit (answered 413 by the route)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body exceeds {limit} bytes")
        self.limit = limit


class Streamed(Protocol):
    """What ``read_bounded`` needs of a request (Starlette's ``Request`` fits)."""

    @property
    def headers(self) -> object: ...

    def stream(self) -> AsyncIterator[bytes]: ...


async def read_bounded(request: Streamed, limit: int) -> bytes:
    """Return the body of ``request``, reading at most ``limit`` bytes.

    Raises:
        BodyTooLarge: when the declared or actual size exceeds ``limit``.
    """
    declared = request.headers.get("content-length")  # type: ignore[attr-defined]
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_bounded_asgi(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """Return the body of the ASGI request ``scope``, reading at most ``limit`` bytes; None when
    the client went away before sending all of it.

    Raises:
        BodyTooLarge: when the declared or actual size exceeds ``limit``.
    """
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
