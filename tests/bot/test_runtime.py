"""`cxbot serve`'s runtime: HTTP API up, timers ticking, clean stop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx

from bot.runtime import Runtime
from bot.settings import Settings
from bot.wiring import build_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_runtime_serves_health_and_stops(tmp_path: Path):
    """The runtime answers /healthz on its port and stops when asked."""
    port = _free_port()
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", http_port=port))
    stop = asyncio.Event()
    task = asyncio.create_task(Runtime(app=app, due_work_interval=0.2).run(stop))
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                response = await client.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    assert response.json() == {"status": "ok"}
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert task.done() and task.exception() is None
