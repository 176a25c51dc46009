"""One HTTP worker for the concurrency tests: cxbot's API under uvicorn, its clock pinned.

Usage: python api_worker.py DB_URL PORT NOW_ISO SECRET [LOG_LEVEL]

Prints "ready" once the socket listens; serves until terminated. The clock is pinned (tests
never read the wall clock), so signatures are made for ``NOW_ISO``.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

import uvicorn

from bot.api.app import create_api
from bot.engine.wiring import build_app
from bot.infra.settings import Settings
from bot.observability.logs import configure_logging


async def main() -> None:
    """Serve the API on 127.0.0.1:PORT."""
    url, port, now_iso, secret = sys.argv[1:5]
    now = datetime.fromisoformat(now_iso)
    configure_logging(sys.argv[5] if len(sys.argv) > 5 else "WARNING")
    settings = Settings(database_url=url, events_secret=secret, telegram_bot_username="moka_bot")
    app = build_app(settings, clock=lambda: now, upgrade=False)
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(app), host="127.0.0.1", port=int(port), log_level="warning", log_config=None
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for "listening"
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
