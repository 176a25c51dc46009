"""`cxbot serve` writes only JSON lines on stderr: its own events, alembic, uvicorn and APScheduler."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[str], limit_s: float = 90) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become ready")


def test_serve_logs_are_json_lines_even_for_scheduler_tracebacks(tmp_path: Path) -> None:
    """Serve migrates (alembic), answers /readyz, and a failing scheduler tick (table dropped) is
    logged with its traceback as a field: every stderr line is one JSON object."""
    database = tmp_path / "serve.db"
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CXBOT_") or k.startswith("CXBOT_TEST_")},
        "CXBOT_DATABASE_URL": f"sqlite:///{database}",
        "CXBOT_HTTP_PORT": str(port),
        "CXBOT_LOG_LEVEL": "INFO",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli.main import app; app()", "serve"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_ready(port, proc)
        for _ in range(3):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)  # alembic used to print per call
        with sqlite3.connect(database) as conn:
            conn.execute("DROP TABLE due_work")  # the next 5 s tick fails inside APScheduler
        time.sleep(12)  # two or more 5 s ticks, at least one after the drop
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    events = [r.get("event", "") for r in records]
    assert "serving" in events and "no_delivery_channel" in events
    assert not any("Context impl" in e for e in events)
    failed = [r for r in records if "exception" in r and "due_work" in r["exception"]]
    # the traceback is a field of the one line: where it happened, never the message (redaction)
    assert failed and 'File "' in failed[0]["exception"] and "[message withheld]" in failed[0]["exception"]
    assert out == ""
