"""`cxbot connectors`: each connector's URL, secret status and last deliveries; `replay` after a fix."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.connectors.worker import process_pending
from flows.journey import Journey
from storage import migrate
from storage.db import Database
from tests.bot.connectors.conftest import SECRETS, client, make_app, sample
from tests.bot.connectors.test_routes import HELPDESK_BODY, helpdesk, shopify
from tests.clocks import FakeClock


async def test_lists_urls_secrets_and_last_outcomes(
    sqlite_db: Database, journey: Journey, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing shows the URL to paste, whether the secret is set, and ok/duplicate/rejected/unmapped."""
    migrate.upgrade(sqlite_db)
    app = make_app(sqlite_db, journey, clock)
    async with client(app) as http:
        body, headers = helpdesk(HELPDESK_BODY)  # before the order: nobody to match yet
        await http.post("/v1/connectors/helpdesk", content=body, headers=headers)
        process_pending(app, clock.now)
        body, headers = shopify("orders/create", sample("shopify_orders_create.json"))
        await http.post("/v1/connectors/shopify", content=body, headers=headers)
        await http.post("/v1/connectors/shopify", content=body, headers=headers)
        await http.post(
            "/v1/connectors/shopify", content=body, headers={**headers, "X-Shopify-Hmac-Sha256": "x"}
        )
        body, headers = shopify("orders/create", {}, "2")  # signed, but no order in it
        await http.post("/v1/connectors/shopify", content=body, headers=headers)
    process_pending(app, clock.now)
    monkeypatch.setenv("CXBOT_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("CXBOT_PUBLIC_URL", "https://cx.example.com")
    monkeypatch.setenv("CXBOT_WEBHOOK_SECRET", "hook-secret")
    monkeypatch.setenv("CXBOT_SHOPIFY_SECRET", SECRETS["shopify_secret"])
    for name in ("CXBOT_WOOCOMMERCE_SECRET", "CXBOT_HELPDESK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    listing = runner.invoke(cli, ["connectors", "--format", "json"])
    assert listing.exit_code == 0, listing.output
    rows = {row["connector"]: row for row in json.loads(listing.stdout)}
    shop = rows["shopify"]
    assert shop["url"] == "https://cx.example.com/v1/connectors/shopify"
    assert (shop["secret"], rows["woocommerce"]["secret"]) == ("set", "missing")
    assert shop["counts"] == {"ok": 1, "rejected": 1, "unmapped": 1, "duplicate": 1}
    assert [d["status"] for d in shop["last"]] == ["unmapped", "rejected", "ok"]
    assert "does not match" in shop["last"][1]["detail"]
    assert shop["last"][2]["duplicates"] == 1
    text = runner.invoke(cli, ["connectors", "--last", "1"])
    assert "secret set (CXBOT_SHOPIFY_SECRET)" in text.output and "unmapped" in text.output
    assert "no customer" in rows["helpdesk"]["last"][0]["detail"]
    replay = runner.invoke(cli, ["connectors", "replay", "--status", "unmapped"])
    assert replay.exit_code == 0 and "replayed 2: ok 1, unmapped 1" in replay.output.splitlines()
