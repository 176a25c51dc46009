"""`cxbot serve`'s process stays lean: no Alembic, Mako or httpx among its modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Only needed to migrate (done in a child process), or by a helpdesk webhook or Chatwoot when
#: configured (httpx, imported when one calls).
KEPT_OUT = ("alembic", "mako", "httpx")

_PROBE = """
import json, sys
import bot.cli.main, bot.runtime.serve, bot.channels.telegram.channel, bot.engine.wiring
import bot.observability.logs, structlog, bot.connectors.jobs, bot.escalations.jobs, bot.runtime.jobs
bot.observability.logs.configure_logging("INFO", json=False)
structlog.get_logger("probe").info("readable")
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
import rich.console  # a command that wants rich still gets it
print(rich.console.Console.__name__)
"""


def test_serving_modules_import_no_alembic_mako_or_httpx() -> None:
    """A fresh interpreter importing what serve imports (logs, the Telegram channel, the jobs) loads
    none of KEPT_OUT, the readable log renderer still works, and rich can still be imported after."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    modules, console = done.stdout.splitlines()
    loaded = set(json.loads(modules))
    assert {"structlog", "aiogram", "fastapi"} <= loaded  # the probe did import them
    assert sorted(loaded.intersection(KEPT_OUT)) == []
    assert "readable" in done.stderr
    assert console == "Console"
