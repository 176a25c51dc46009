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
    return await _collect(declared, request.stream(), limit)


async def read_bounded_asgi(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """Return the body of the ASGI request ``scope``, reading at most ``limit`` bytes; None when
    the client went away before sending all of it.

    Raises:
        BodyTooLarge: when the declared or actual size exceeds ``limit``.
    """
    try:
        return await _collect(header(scope, b"content-length"), _asgi_chunks(receive), limit)
    except _Disconnected:
        return None


class _Disconnected(Exception):
    """The client went away before its whole body arrived."""


async def _asgi_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _collect(declared: str | bytes | None, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body from ``chunks``, refused as soon as the declared length or the running total
    passes ``limit``."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)
