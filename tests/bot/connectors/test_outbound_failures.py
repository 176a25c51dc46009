"""Chatwoot's transport names each failure once, through the loopback fake Chatwoot API."""

from __future__ import annotations

import pytest

from bot.connectors.chatwoot_out import ChatwootTransport
from flows.errors import ChannelError, Permanent, Transient
from flows.journey import Journey
from storage.claims import ClaimedMessage
from storage.db import Database
from tests.bot.connectors.conftest import make_app
from tests.clocks import FakeClock
from tests.fakes.chatwoot import FakeChatwoot

SUMMARY = {"escalation_id": 7, "priority": "p1", "status": "open", "customer_id": "c-42", "texts": []}


@pytest.mark.parametrize(("status", "expected"), [(503, Transient), (429, Transient), (422, Permanent)])
async def test_chatwoot_answers_are_named(
    sqlite_db: Database,
    journey: Journey,
    clock: FakeClock,
    chatwoot: tuple[str, type[FakeChatwoot]],
    status: int,
    expected: type[ChannelError],
) -> None:
    """A 5xx or 429 from Chatwoot is temporary, a 422 permanent; the next try opens the conversation."""
    url, fake = chatwoot
    app = make_app(
        sqlite_db,
        journey,
        clock,
        chatwoot_url=url,
        chatwoot_api_token="t",
        chatwoot_account_id=3,
        chatwoot_inbox_id=9,
    )
    transport = ChatwootTransport(app.db, app.settings, clock)
    message = ClaimedMessage(1, "chatwoot", "7", "escalation", dict(SUMMARY), 1)
    fake.fail_next.append(status)
    with pytest.raises(ChannelError) as info:
        await transport.deliver(message)
    assert type(info.value) is expected and f"Chatwoot answered {status} to GET /contacts/search" in str(
        info.value
    )
    await transport.deliver(message)
    assert len(fake.conversations) == 1 and len(fake.conversations[0]["messages"]) == 1


async def test_chatwoot_not_configured_is_permanent(
    sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """Without the Chatwoot settings the message is a dead letter at once (fix, then retry-dead)."""
    transport = ChatwootTransport(sqlite_db, make_app(sqlite_db, journey, clock).settings, clock)
    with pytest.raises(Permanent, match="CXBOT_CHATWOOT_URL"):
        await transport.deliver(ClaimedMessage(1, "chatwoot", "7", "escalation", dict(SUMMARY), 1))
