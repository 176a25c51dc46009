"""Starting ``api_worker.py`` processes (uvicorn on 127.0.0.1) for the hostile tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

WORKER = Path(__file__).with_name("api_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_workers(
    url: str, count: int, now: datetime, secret: str, logs: Path, level: str = "WARNING"
) -> Iterator[list[str]]:
    """Run ``count`` API workers on ``url``; yield their base URLs (stderr in ``logs``/worker-N.log)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers: list[subprocess.Popen[str]] = []
    ports = [free_port() for _ in range(count)]
    try:
        for n, port in enumerate(ports):
            with (logs / f"worker-{n}.log").open("w") as log:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, str(WORKER), url, str(port), now.isoformat(), secret, level],
                        stdout=subprocess.PIPE,
                        stderr=log,
                        text=True,
                        env=env,
                        cwd=ROOT,
                    )
                )
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(10)
            if worker.stdout is not None:
                worker.stdout.close()
