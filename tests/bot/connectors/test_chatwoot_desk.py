"""The agents' take and resolve reach the escalation's Chatwoot conversation through the outbox:
a private note naming the agent, and a resolution that resolves the conversation; failures are
retried, and those that fail for good are named by `cxbot connectors` and `cxbot status`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.connectors import chatwoot_out
from bot.connectors.jobs import deliver_outbound
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.escalations import desk, hooks
from bot.escalations.records import DeskConfig
from flows.journey import Journey
from storage.tables import Escalation, OutboxMessage
from tests.bot.connectors.conftest import make_app
from tests.bot.escalations.conftest import detractor
from tests.clocks import FakeClock
from tests.fakes.chatwoot import FakeChatwoot

AGENT = "Mario (4002)"


def _chatwoot_app(
    service: Service, journey: Journey, clock: FakeClock, url: str, **extra: Any
) -> tuple[App, DeskConfig, int]:
    """Return an app with Chatwoot and an agents' desk, a detractor's escalation and its id."""
    app = make_app(
        service.db,
        journey,
        clock,
        chatwoot_url=url,
        chatwoot_api_token="cw-api-token",
        chatwoot_account_id=3,
        chatwoot_inbox_id=9,
        agents_chat_id=-100123,
        link_secret="s3cret",
        **extra,
    )
    app.service = service
    config = hooks.install(app)
    chatwoot_out.install(app)
    chatwoot_out.install(app)  # once only
    detractor(service, clock)
    with service.db.read() as session:
        (escalation,) = session.exec(select(Escalation)).all()
    assert escalation.id is not None
    return app, config, escalation.id


async def test_take_and_resolve_update_the_chatwoot_conversation(
    service: Service, clock: FakeClock, journey: Journey, chatwoot: tuple[str, type[FakeChatwoot]]
) -> None:
    """A take adds a private note naming the agent (desk language); a resolution adds its note and
    resolves the conversation, once Chatwoot is back from a 503; nothing opens a second one."""
    url, fake = chatwoot
    app, config, escalation_id = _chatwoot_app(service, journey, clock, url, desk_language="it")
    assert await deliver_outbound(app, clock.now) == {"sent": 1}  # the card opens the conversation
    (conversation,) = fake.conversations

    desk.take(app, config, escalation_id, AGENT, clock.advance(minutes=5))
    assert await deliver_outbound(app, clock.now) == {"sent": 1}
    taken = conversation["messages"][-1]
    assert taken == {
        "content": f"✋ Segnalazione #{escalation_id} presa in carico da {AGENT} (cxbot)",
        "message_type": "outgoing",
        "private": True,
    }

    desk.resolve(app, config, escalation_id, AGENT, clock.advance(minutes=30))
    fake.fail_next.append(503)
    assert await deliver_outbound(app, clock.now) == {"retry": 1}
    assert conversation["status"] == "open"
    assert await deliver_outbound(app, clock.advance(minutes=2)) == {"sent": 1}
    assert conversation["messages"][-1]["content"] == (
        f"✅ Segnalazione #{escalation_id} risolta da {AGENT} (cxbot)"
    )
    assert conversation["status"] == "resolved"
    assert len(fake.conversations) == 1 and len(fake.contacts) == 1
    toggles = [c for c in fake.calls if c[1].endswith("/toggle_status")]
    assert [c[2] for c in toggles] == [{"status": "resolved"}]
    assert all(c[3] == "cw-api-token" for c in fake.calls)


async def test_hand_back_is_noted_in_english_and_a_repeated_take_queues_nothing(
    service: Service, clock: FakeClock, journey: Journey, chatwoot: tuple[str, type[FakeChatwoot]]
) -> None:
    """A hand-back is a note in an English desk; taking a case one already holds changes nothing
    and queues no second note."""
    url, fake = chatwoot
    app, config, escalation_id = _chatwoot_app(service, journey, clock, url, desk_language="en")
    desk.take(app, config, escalation_id, AGENT, clock.advance(minutes=1))
    desk.take(app, config, escalation_id, AGENT, clock.advance(minutes=1))
    desk.hand_back(app, config, escalation_id, AGENT, clock.advance(minutes=1))
    # the card, the take, the hand-back: one at a time, in order (one conversation's notes queue)
    assert [await deliver_outbound(app, clock.now) for _ in range(4)] == [{"sent": 1}] * 3 + [{}]
    (conversation,) = fake.conversations
    assert [m["content"] for m in conversation["messages"][1:]] == [
        f"✋ Escalation #{escalation_id} taken by {AGENT} (cxbot)",
        f"↩️ Escalation #{escalation_id} handed back to the bot by {AGENT} (cxbot)",
    ]
    assert "status" not in {k for c in fake.calls for k in c[2] if c[1].endswith("toggle_status")}


async def test_a_resolution_chatwoot_refuses_is_shown_by_connectors_and_status(
    service: Service,
    clock: FakeClock,
    journey: Journey,
    chatwoot: tuple[str, type[FakeChatwoot]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chatwoot refusing the resolution for good (404: the conversation was deleted there) marks
    it failed with the error, listed by `cxbot connectors` and counted by `cxbot status`."""
    url, fake = chatwoot
    app, config, escalation_id = _chatwoot_app(service, journey, clock, url)
    assert await deliver_outbound(app, clock.now) == {"sent": 1}
    fake.conversations.clear()  # deleted in Chatwoot
    desk.resolve(app, config, escalation_id, AGENT, clock.advance(minutes=1))
    assert await deliver_outbound(app, clock.now) == {"failed": 1}
    with service.db.read() as session:
        (failed,) = session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed")).all()
    assert failed.channel == "chatwoot" and failed.kind == chatwoot_out.DESK_KIND

    monkeypatch.setenv("CXBOT_DATABASE_URL", service.db.url)
    runner = CliRunner()
    listing = runner.invoke(cli, ["connectors", "--format", "json"])
    assert listing.exit_code == 0, listing.output
    rows = {row["connector"]: row for row in json.loads(listing.stdout)}
    outbound = rows["chatwoot-api"]
    assert outbound["direction"] == "outbound" and outbound["counts"] == {"sent": 1, "failed": 1}
    (failure,) = outbound["failures"]
    assert failure["kind"] == "desk_action" and "404" in failure["error"]
    text = runner.invoke(cli, ["connectors"])
    assert "chatwoot-api (outbound) failed 1, sent 1" in text.output
    assert f"#{failure['id']} desk_action failed (attempts 1) — Chatwoot answered 404" in text.output
    status = runner.invoke(cli, ["status"], env={"COLUMNS": "200"})
    assert status.exit_code == 0, status.output
    assert "outbox chatwoot failed" in status.stdout
