"""The agents' desk hook is part of every app the CLI builds (``cxbot shell``, ``cxbot rasa-actions``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.cli.common import load_app
from storage import migrate
from storage.db import Database
from storage.tables import OutboxMessage
from tests.bot.escalations.conftest import AGENTS, detractor
from tests.clocks import FakeClock


def test_cli_app_posts_the_card_of_an_escalation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """A detractor fed through a CLI-loaded app gets its card queued for the agents' group."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    scratch = Database(url)
    migrate.upgrade(scratch)
    scratch.dispose()
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("CXBOT_AGENTS_CHAT_ID", str(AGENTS))
    app = load_app(url)
    app.service.clock = clock
    try:
        detractor(app.service, clock)
        with app.db.read() as session:
            cards = [m for m in session.exec(select(OutboxMessage)) if m.kind == "agent_card"]
    finally:
        app.db.dispose()
    assert [card.address for card in cards] == [str(AGENTS)]
