"""SLA: business-hours due times, one nudge per escalation across workers, overdue counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from bot.engine.service import Service
from bot.escalations.sla import overdue_count, sweep_sla
from flows.conversation import CustomerText
from storage.db import Database
from storage.tables import Escalation, OutboxMessage
from tests.bot.escalations.conftest import CHAT, detractor, make_app, make_settings
from tests.clocks import FakeClock


def _notes(db: Database) -> list[OutboxMessage]:
    with db.read() as session:
        return [m for m in session.exec(select(OutboxMessage)) if m.kind == "agent_message"]


def test_nudge_once_near_due_then_overdue(service: Service, clock: FakeClock) -> None:
    """P1 opened Tue 11:00 Rome is due 15:00; at 75% (14:00) it is re-posted once with the mentions."""
    app, config = make_app(service, make_settings(sla_mentions="@anna, marco"))
    detractor(service, clock)  # clock: Tue 17 Nov 10:00 UTC = 11:00 Rome
    with service.db.read() as session:
        escalation = session.exec(select(Escalation)).one()
    assert escalation.sla_due_at == datetime(2026, 11, 17, 14, 0, tzinfo=UTC)
    assert sweep_sla(app, clock.advance(hours=2), config)["nudged"] == 0  # 12:00 UTC: 50%
    first = sweep_sla(app, clock.advance(hours=1, minutes=5), config)  # 13:05 UTC: past 75%
    second = sweep_sla(app, clock.now, config)  # another worker, same moment
    assert (first["nudged"], second["nudged"]) == (1, 0)
    [note] = _notes(service.db)
    assert "@anna @marco" in note.payload["text"] and "nearly due" in note.payload["text"]
    assert overdue_count(service.db, clock.now) == 0
    assert overdue_count(service.db, clock.advance(hours=1)) == 1
    assert sweep_sla(app, clock.now, config)["nudged"] == 0  # still once


def test_p1_on_friday_evening_is_due_monday(service: Service, clock: FakeClock) -> None:
    """A P1 opened Friday 17:30 Rome is due Monday 12:30 (business hours only)."""
    make_app(service, make_settings())
    clock.now = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # Friday 17:30 in Rome
    detractor(service, clock)
    with service.db.read() as session:
        escalation = session.exec(select(Escalation)).one()
    assert escalation.sla_due_at == datetime(2026, 11, 23, 11, 30, tzinfo=UTC)


async def test_component_sweeps_and_stops(service: Service, clock: FakeClock) -> None:
    """The runtime component runs the SLA sweep and ends when asked to stop."""
    import asyncio

    from bot.escalations.jobs import escalation_component

    app, _ = make_app(service, make_settings())
    detractor(service, clock)
    clock.advance(hours=3, minutes=30)  # past 75% of the P1 window
    stop = asyncio.Event()
    task = asyncio.create_task(escalation_component(app, sla_every=0.01, deliver_every=0.01)(stop))
    for _ in range(200):
        if _notes(service.db):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(_notes(service.db)) == 1


def test_p1_nudge_counts_business_hours(service: Service, clock: FakeClock) -> None:
    """A P1 opened Friday 16:00 Rome, due Monday 11:00, is nudged Monday 10:00, not on Sunday."""
    app, config = make_app(service, make_settings())
    clock.now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday 16:00 in Rome
    detractor(service, clock)
    with service.db.read() as session:
        escalation = session.exec(select(Escalation)).one()
    assert escalation.sla_due_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday 11:00 Rome
    assert sweep_sla(app, datetime(2026, 11, 22, 17, 15, tzinfo=UTC), config)["nudged"] == 0  # Sunday 18:15
    assert sweep_sla(app, datetime(2026, 11, 23, 8, 55, tzinfo=UTC), config)["nudged"] == 0  # Monday 09:55
    assert sweep_sla(app, datetime(2026, 11, 23, 9, 0, tzinfo=UTC), config)["nudged"] == 1  # Monday 10:00


def test_overdue_card_is_marked_and_listed(
    service: Service, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hours past its SLA the card says "overdue by 2 h" (edited once per mark) and the CLI lists it."""
    import json

    from typer.testing import CliRunner

    import bot.cli.escalations as cli_escalations
    from bot.cli.common import load_app
    from bot.cli.main import app as cli
    from bot.engine.wiring import App

    app, config = make_app(service, make_settings(desk_language="it"))
    detractor(service, clock)  # P1 due Tue 14:00 UTC
    clock.now = datetime(2026, 11, 17, 16, 10, tzinfo=UTC)
    assert sweep_sla(app, clock.now, config)["marked"] == 1
    assert sweep_sla(app, clock.now, config)["marked"] == 0  # same mark: no second edit
    with service.db.read() as session:
        cards = [m for m in session.exec(select(OutboxMessage)) if m.kind == "agent_card"]
    assert "⏰ scaduta da 2 h" in cards[-1].payload["text"]

    def load(database_url: str | None = None) -> App:
        found = build(database_url)
        found.service.clock = clock
        return found

    build = load_app
    monkeypatch.setattr(cli_escalations, "load_app", load)
    url = str(service.db.url)
    result = CliRunner().invoke(cli, ["escalations", "--open", "--database-url", url])
    assert result.exit_code == 0 and "⏰ 2 h" in result.stdout
    result = CliRunner().invoke(cli, ["escalations", "--format", "json", "--database-url", url])
    [row] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert row["overdue_hours"] == 2


def test_due_time_is_business_hours_from_the_first_write(service: Service, clock: FakeClock) -> None:
    """Without the agents' desk, a P1 opened Friday 16:00 Rome is stored due Monday 11:00 Rome."""
    clock.now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday 16:00 in Rome
    detractor(service, clock)
    assert service.after_apply == []  # no hook rewrote it: the service's first write is the rule
    with service.db.read() as session:
        escalation = session.exec(select(Escalation)).one()
    assert escalation.sla_due_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_raised_priority_brings_the_due_time_forward(service: Service, clock: FakeClock) -> None:
    """A P2 case that becomes P1 (a parcel never arrived) is due 4 business hours after the raise."""
    detractor(service, clock, "score:2")  # Tue 11:00 Rome: P2, due in 48 h
    with service.db.read() as session:
        assert session.exec(select(Escalation)).one().sla_due_at == datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    clock.advance(hours=1)
    service.feed("c-42", CustomerText(text="il pacco non è mai arrivato"), via=CHAT)
    with service.db.read() as session:
        escalation = session.exec(select(Escalation)).one()
    assert (escalation.priority, escalation.sla_due_at) == ("p1", datetime(2026, 11, 17, 15, 0, tzinfo=UTC))


def test_company_holidays_close_business_hours(tmp_path: Path, clock: FakeClock) -> None:
    """A Milan company's P1 opened Friday 4 Dec 16:00 skips Sant'Ambrogio and Immacolata: due Wed 11:00."""
    from bot.engine.wiring import build_app
    from bot.infra.settings import Settings

    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'milan.db'}",
        holiday_subdivision="MI",
    )
    app = build_app(settings)
    app.service.clock = clock
    clock.now = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # Friday 16:00 in Milan
    try:
        detractor(app.service, clock)
        with app.db.read() as session:
            escalation = session.exec(select(Escalation)).one()
    finally:
        app.db.dispose()
    assert escalation.sla_due_at == datetime(2026, 12, 9, 10, 0, tzinfo=UTC)  # Wednesday 11:00
