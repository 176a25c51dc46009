"""Hot HTTP routes answered as bare ASGI, ahead of FastAPI's routing and request cycle.

A router may carry such routes (``FastRouter.fast_posts``): ``bot.api.app.create_api`` serves
them from a middleware that sees each request first. FastAPI still documents them (the router's
own route, which gives the same answers) and serves every other method and path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Answer:
    """What a fast route answers: an HTTP status and its JSON body, already encoded."""

    status: int
    body: bytes


#: A fast route: the request (its scope and body stream) in, its answer out; None when the
#: client went away before its request was read. May raise cxbot's errors (``flows.errors``):
#: the API translates them as it does for every route.
FastHandler = Callable[[Scope, Receive], Awaitable[Answer | None]]


class FastRouter(APIRouter):
    """An ``APIRouter`` whose POSTs to some paths are answered by bare ASGI handlers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: POST handlers by exact path.
        self.fast_posts: dict[str, FastHandler] = {}


def header(scope: Scope, name: bytes) -> bytes | None:
    """Return the first value of the (lower-case) header ``name`` in ``scope``, or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
