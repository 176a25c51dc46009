"""Raw connector deliveries have a retention: after CXBOT_CONNECTOR_BODY_RETENTION_DAYS (30 by
default) the daily retention job erases their bodies; the rows stay, so a redelivery is still a
duplicate, and `cxbot connectors` shows the retention and how many bodies were erased."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.connectors.worker import process_pending
from bot.runtime.jobs import retention_pass
from bot.runtime.serve import housekeeping
from flows.journey import Journey
from storage import connector_deliveries as store
from storage import migrate
from storage.db import Database
from storage.tables import ConnectorDelivery, JobRun
from tests.bot.connectors.conftest import client, make_app, sample
from tests.bot.connectors.test_routes import shopify
from tests.clocks import FakeClock


async def _deliver(http: httpx.AsyncClient, delivery_id: str) -> int:
    body, headers = shopify(
        "orders/create", {**sample("shopify_orders_create.json"), "id": delivery_id}, delivery_id
    )
    return (await http.post("/v1/connectors/shopify", content=body, headers=headers)).status_code


def _bodies(db: Database) -> dict[str, str]:
    with db.read() as session:
        rows = session.exec(select(ConnectorDelivery).order_by(col(ConnectorDelivery.id))).all()
    return {row.delivery_id: row.body for row in rows}


async def test_bodies_older_than_the_retention_are_erased_and_duplicates_still_recognised(
    db: Database, journey: Journey, clock: FakeClock
) -> None:
    """Past 30 days (the default) a worked delivery's body is erased, its row kept: the same
    delivery sent again is a duplicate, not new work; newer and still pending bodies stay."""
    migrate.upgrade(db)
    app = make_app(db, journey, clock)
    assert app.settings.connector_body_retention_days == 30
    start = clock.now
    async with client(app) as http:
        assert await _deliver(http, "old") == 200
        assert process_pending(app, clock.now) == {"ok": 1}
        clock.advance(days=31)
        assert await _deliver(http, "new") == 200
        assert process_pending(app, clock.now) == {"ok": 1}
        # received as long ago, never worked (a worker down): kept until it is worked
        store.record(db, "shopify", "old-pending", "orders/create", b"{}", start)

        assert retention_pass(
            db, clock.now, 0, connector_days=app.settings.connector_body_retention_days
        ) == {"connector_bodies_erased": 1}
        bodies = _bodies(db)
        assert bodies["old"] == "" and bodies["new"] != "" and bodies["old-pending"] != ""
        assert retention_pass(db, clock.advance(hours=1), 0, connector_days=30) is None  # once a day

        assert await _deliver(http, "old") == 200  # Shopify retries a delivery it sent 31 days ago
    with db.read() as session:
        old = session.exec(select(ConnectorDelivery).where(ConnectorDelivery.delivery_id == "old")).one()
    assert (old.status, old.duplicates, old.body, old.received_at) == ("ok", 1, "", start)
    assert store.replay(db, delivery=old.id) == 0  # nothing left to map
    assert retention_pass(db, clock.now, 0, connector_days=0) is None


def test_retention_days_zero_keeps_bodies_and_comments_alone(
    sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """With both retentions off the job does nothing and claims no day."""
    migrate.upgrade(sqlite_db)
    store.record(sqlite_db, "shopify", "a", "orders/create", b"{}", clock.now)
    assert retention_pass(sqlite_db, clock.advance(days=400), 0, connector_days=0) is None
    assert _bodies(sqlite_db) == {"a": "{}"}
    with sqlite_db.read() as session:
        assert session.exec(select(JobRun)).all() == []


async def test_serve_housekeeping_runs_the_connector_retention(
    sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """`serve`'s housekeeping component erases old bodies with the configured number of days."""
    migrate.upgrade(sqlite_db)
    app = make_app(sqlite_db, journey, clock, connector_body_retention_days=7)
    store.record(sqlite_db, "shopify", "a", "orders/create", b'{"email": "x@example.com"}', clock.now)
    (claimed,) = store.claim(sqlite_db, clock.now)
    store.finish(sqlite_db, claimed.id, clock.now, "ok")
    clock.advance(days=8)
    stop = asyncio.Event()
    task = asyncio.create_task(housekeeping(app, every=0.05)(stop))
    for _ in range(200):
        if _bodies(sqlite_db)["a"] == "":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task
    assert _bodies(sqlite_db) == {"a": ""}


async def test_connectors_listing_shows_the_retention_and_erased_bodies(
    sqlite_db: Database, journey: Journey, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cxbot connectors` names the retention setting and counts the erased bodies per connector."""
    migrate.upgrade(sqlite_db)
    app = make_app(sqlite_db, journey, clock)
    async with client(app) as http:
        assert await _deliver(http, "a") == 200
    assert process_pending(app, clock.now) == {"ok": 1}
    assert retention_pass(sqlite_db, clock.advance(days=31), 0, connector_days=30) == {
        "connector_bodies_erased": 1
    }
    monkeypatch.setenv("CXBOT_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("CXBOT_CONNECTOR_BODY_RETENTION_DAYS", "30")
    runner = CliRunner()
    text = runner.invoke(cli, ["connectors"])
    assert text.exit_code == 0, text.output
    assert "raw bodies kept 30 days, then erased (CXBOT_CONNECTOR_BODY_RETENTION_DAYS)" in text.output
    assert "ok 1; 1 bodies erased" in text.output
    rows = {
        row["connector"]: row
        for row in json.loads(runner.invoke(cli, ["connectors", "--format", "json"]).stdout)
    }
    assert (rows["shopify"]["bodies_erased"], rows["shopify"]["body_retention_days"]) == (1, 30)
    assert rows["woocommerce"]["bodies_erased"] == 0
