"""`cxbot serve`'s runtime: HTTP API up, timers ticking, clean stop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx

from bot.engine.wiring import build_app
from bot.infra.retry import RetryPolicy
from bot.infra.settings import Settings
from bot.runtime.serve import Runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_runtime_serves_health_and_stops(tmp_path: Path) -> None:
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


async def test_a_crashing_task_is_restarted_and_then_named_in_readyz(tmp_path: Path) -> None:
    """A component that raises is logged and restarted with backoff; one that keeps crashing makes
    /readyz answer 503 naming it; another component keeps running meanwhile."""
    from bot.infra.supervision import Supervisor

    port = _free_port()
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", http_port=port))
    runs: list[str] = []

    async def flaky(stop: asyncio.Event) -> None:
        runs.append("flaky")
        raise RuntimeError("boom")

    async def steady(stop: asyncio.Event) -> None:
        runs.append("steady")
        await stop.wait()

    runtime = Runtime(
        app=app,
        due_work_interval=0.2,
        components=[flaky, steady],
        supervisor=Supervisor(restart=RetryPolicy(base=0.01, cap=0.05, max_attempts=None), failing_after=3),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    ready = await client.get(f"http://127.0.0.1:{port}/readyz")
                    if ready.status_code == 503:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["task:test_a_crashing_task_is_restarted_and_then_named_in_readyz"].startswith("failing")
    assert "RuntimeError: boom" in str(checks)
    assert runs.count("flaky") >= 3 and runs.count("steady") == 1
    assert task.exception() is None
