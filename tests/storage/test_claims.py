"""Outbox rows claimed with a lease, or taken for an inline reply (storage.claims)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage import claims, repo
from storage.db import Database
from storage.tables import OutboxMessage
from tests.clocks import FakeClock


def _queue(db: Database, clock: FakeClock, *addresses: str) -> None:
    with db.write() as session:
        for n, address in enumerate(addresses):
            repo.enqueue_message(
                session, channel="rasa", address=address, payload={"text": str(n)}, now=clock.now
            )


def test_inline_reply_takes_the_chats_free_messages_oldest_first(db: Database, clock: FakeClock) -> None:
    """A chat's pending messages are taken (marked sent) oldest first; one leased by a sender is
    left to it unless it is the one answered now; other chats' messages stay pending."""
    _queue(db, clock, "s-1", "s-1", "s-2", "s-1")
    (leased,) = claims.claim_outbox(db, "worker", clock.now, channels=("rasa",), limit=1)
    assert (leased.address, leased.payload) == ("s-1", {"text": "0"})
    with db.write() as session:
        taken = claims.take_for_inline_reply(session, "rasa", "s-1", clock.now)
    assert taken == [{"text": "1"}, {"text": "3"}]
    with db.write() as session:
        again = claims.take_for_inline_reply(session, "rasa", "s-1", clock.now, also=leased.id)
        assert claims.take_for_inline_reply(session, "rasa", "s-9", clock.now) == []
    assert again == [{"text": "0"}]
    with db.read() as session:
        status = {
            (row.address, row.payload["text"]): row.status for row in session.exec(select(OutboxMessage))
        }
    assert status == {
        ("s-1", "0"): "sent",
        ("s-1", "1"): "sent",
        ("s-2", "2"): "pending",
        ("s-1", "3"): "sent",
    }


def test_finished_messages_are_sent(db: Database, clock: FakeClock) -> None:
    """Claimed messages marked finished are sent, their lease and error cleared."""
    _queue(db, clock, "s-1", "s-2")
    claimed = claims.claim_outbox(db, "worker", clock.now, channels=("rasa",))
    claims.finish_messages(db, [m.id for m in claimed], clock.now + timedelta(seconds=1))
    with db.read() as session:
        rows = list(session.exec(select(OutboxMessage)))
    assert [(r.status, r.sent_at, r.leased_until) for r in rows] == [
        ("sent", clock.now + timedelta(seconds=1), None)
    ] * 2
