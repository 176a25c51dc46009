"""flows/ is sans-IO: it imports nothing that does I/O and never reads the clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

FLOWS = Path(__file__).resolve().parents[2] / "flows"
FORBIDDEN_IMPORTS = {
    "asyncio",
    "aiogram",
    "telegram",
    "rasa_sdk",
    "sqlmodel",
    "sqlalchemy",
    "apscheduler",
    "fastapi",
    "httpx",
    "aiohttp",
    "requests",
    "socket",
    "time",
    "random",
    "storage",
    "bot",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def _modules() -> list[Path]:
    return sorted(FLOWS.rglob("*.py"))


def test_flows_imports_no_io_library() -> None:
    """No module in flows/ imports an I/O library, the runtime or storage."""
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN_IMPORTS]
    assert offenders == []


def test_flows_never_reads_the_clock() -> None:
    """No module in flows/ calls datetime.now(), date.today(), time.time() and the like."""
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLOCK_CALLS
            ):
                offenders.append(f"{path.name}:{node.lineno} .{node.func.attr}()")
    assert offenders == []


def test_importing_flows_loads_no_io_module() -> None:
    """Importing every flows module in a fresh interpreter loads none of the I/O libraries."""
    libraries = sorted(FORBIDDEN_IMPORTS - {"time", "random", "socket"})
    code = (
        "import sys, flows.conversation, flows.journey, flows.understanding, flows.escalation, "
        "flows.scheduling\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {libraries!r})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
