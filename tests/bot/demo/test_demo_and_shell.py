"""The demo and the terminal shell run the real path end to end."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import select
from typer.testing import CliRunner

from bot.channels.shell import ShellSession
from bot.cli.main import app
from bot.demo.run import run_demo
from bot.engine.wiring import build_app
from bot.infra.settings import Settings
from storage.tables import Escalation, Response


def test_demo_simulates_customers_and_prints_a_summary(tmp_path: Path) -> None:
    """A small demo stores answers in both languages, opens escalations and prints per-stage figures."""
    out = io.StringIO()
    db = run_demo(customers=25, seed=3, database=tmp_path / "demo.db", console=Console(file=out, width=120))
    with db.read() as session:
        responses = list(session.exec(select(Response)))
        escalations = list(session.exec(select(Escalation)))
    assert len(responses) > 25
    assert {r.language for r in responses} == {"it", "en"}
    assert {r.stage for r in responses} >= {"delivered", "first_use"}
    assert escalations
    text = out.getvalue()
    assert "Delivery" in text and "CSAT" in text and "NPS" in text
    assert "answers stored" in text


def test_shell_conversation(tmp_path: Path) -> None:
    """In the shell a customer triggers a delivery, answers in words, gives a reason and is thanked."""
    out = io.StringIO()
    application = build_app(Settings(database_url=f"sqlite:///{tmp_path / 's.db'}"))
    session = ShellSession(application, "shell-1", "it", console=Console(file=out, width=200))
    for line in ["/start", "/event delivered", "quattro", "/tap 1"]:
        assert session.handle(line)
    assert not session.handle("/quit")
    text = out.getvalue()
    assert "Quanto ti ha soddisfatto la consegna" in text
    assert "Qual è il motivo principale" in text
    assert "Grazie, ci aiuta molto!" in text
    with application.db.read() as db_session:
        (response,) = db_session.exec(select(Response))
    assert (response.score, response.reason) == (4, "fast")  # 4/5: the first positive chip


def test_shell_command_reads_stdin(tmp_path: Path) -> None:
    """`cxbot shell` runs on piped input and ends cleanly at end of input."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert CliRunner().invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    result = CliRunner().invoke(
        app,
        ["shell", "--lang", "en", "--database-url", url],
        input="/event ticket\n6\n/quit\n",
    )
    assert result.exit_code == 0, result.output
    assert "made it easy for me to handle my issue" in result.output
    assert "main reason" in result.output


def test_shell_says_what_happened_to_each_event(tmp_path: Path) -> None:
    """Each /event says whether its survey was asked, held by a cap (until when) or skipped as expired."""
    from datetime import UTC, datetime

    from tests.clocks import FakeClock

    out = io.StringIO()
    clock = FakeClock(datetime(2026, 11, 17, 10, 0, tzinfo=UTC))
    application = build_app(Settings(database_url=f"sqlite:///{tmp_path / 's.db'}"), clock=clock)
    session = ShellSession(application, "shell-2", "en", console=Console(file=out, width=300), clock=clock)
    for line in ["/start", "/event delivered", "4", "/tap 5", "/event ticket", "/event delivered"]:
        assert session.handle(line)
    text = out.getvalue()
    assert "delivered: asked now" in text
    assert "ticket_closed: held by the 24 h cap (one survey a day) until Wed 18 Nov 11:00 Europe/Rome" in text
    assert "delivered: skipped: expired (held by the 7-day cap on the same metric past its deadline)" in text


def test_shell_fresh_starts_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cxbot shell --fresh` ignores the configured database: earlier caps do not apply."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CXBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'kept.db'}")
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    first = CliRunner().invoke(app, ["shell", "--lang", "en"], input="/event delivered\n/quit\n")
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, ["shell", "--lang", "en"], input="/event delivered\n/quit\n")
    assert "held by" in again.stdout or "skipped: expired" in again.stdout
    fresh = CliRunner().invoke(app, ["shell", "--lang", "en", "--fresh"], input="/event delivered\n/quit\n")
    assert fresh.exit_code == 0, fresh.output
    assert "delivered: asked now" in fresh.stdout and "--fresh" in fresh.stdout
