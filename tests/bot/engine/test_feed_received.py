"""What a channel received, fed as data: the service finds the customer inside its transaction
(identity or start token), never creates one, and marks the inbox row in the same commit."""

from __future__ import annotations

from dataclasses import fields

import pytest
from sqlalchemy import event, func
from sqlmodel import col, select

from bot.channels.base import Envelope
from bot.engine.service import FeedResult, Received, Service, StartRefused
from flows.conversation import ButtonPress, Command, CommandName, CustomerText, Inbound, Started
from flows.scales import Lang
from storage import inbox, links, repo
from storage.tables import (
    ChannelIdentity,
    Conversation,
    Customer,
    InboxUpdate,
    LinkToken,
    OutboxMessage,
    Response,
)
from tests.clocks import FakeClock
from tests.seeding import ask_delivery_csat


def _stored(service: Service, clock: FakeClock, chat: str) -> int:
    """Store one inbox row for ``chat`` and return its id."""
    inbox.store(service.db, "telegram", [inbox.Incoming(f"u-{chat}", chat, {"update_id": 1})], clock.now)
    [row] = inbox.claim(service.db, "telegram", clock.now)
    return row.id


def _envelope(chat: str, inbound: Inbound, **more: object) -> Envelope[Inbound]:
    return Envelope("telegram", chat, inbound, **more)  # type: ignore[arg-type]


def _row(service: Service, row_id: int) -> InboxUpdate:
    with service.db.read() as session:
        row = session.get(InboxUpdate, row_id)
    assert row is not None
    return row


def _count(service: Service, table: type) -> int:
    with service.db.read() as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_a_known_chat_is_found_and_its_inbox_row_marked_in_one_commit(
    service: Service, clock: FakeClock
) -> None:
    """A typed score from a bound chat: its customer is found by the identity, the answer stored
    and the inbox row marked done, in one commit; the item holds data only, no callback."""
    ask_delivery_csat(service, clock.now, [501])
    row_id = _stored(service, clock, "501")
    item = Received(_envelope("501", CustomerText(text="4")), row_id)
    assert not [f.name for f in fields(item) if callable(getattr(item, f.name))]
    commits: list[int] = []
    event.listen(service.db.engine, "commit", lambda _conn: commits.append(1))
    [result] = service.feed_many([item], now=clock.now)
    assert isinstance(result, FeedResult) and result.customer_id == "c-501"
    assert len(commits) == 1
    with service.db.read() as session:
        assert [r.score for r in session.exec(select(Response))] == [4]
    row = _row(service, row_id)
    assert row.processed_at is not None and row.error is None


def test_a_stranger_is_answered_and_nothing_is_stored(service: Service, clock: FakeClock) -> None:
    """A chat no customer owns asks for help: answered in its client's language, marked as a
    stranger's; no customer, identity or conversation is created."""
    row_id = _stored(service, clock, "999")
    envelope = _envelope("999", Command(name=CommandName.HELP), language_hint=Lang.EN)
    [result] = service.feed_many([Received(envelope, row_id)], now=clock.now)
    assert isinstance(result, FeedResult) and result.customer_id is None
    with service.db.read() as session:
        replies = session.exec(select(OutboxMessage).where(col(OutboxMessage.address) == "999")).all()
    assert replies and all(r.payload["language"] == "en" and r.customer_id is None for r in replies)
    assert [_count(service, t) for t in (Customer, ChannelIdentity, Conversation)] == [0, 0, 0]
    assert _row(service, row_id).error == "stranger: answered, nothing stored"


def test_a_start_token_binds_the_chat_inside_the_feed(service: Service, clock: FakeClock) -> None:
    """/start with a customer's token: the chat is bound to that customer in the feed itself,
    the token used by this chat, and the step sees a bound start."""
    with service.db.write() as session:
        repo.customer_view(session, "c-7", clock.now, language="it")
        token = links.issue_token(session, "c-7", clock.now)
    row_id = _stored(service, clock, "700")
    envelope = _envelope("700", Started(bound=False), start_token=token)
    [result] = service.feed_many([Received(envelope, row_id)], now=clock.now)
    assert isinstance(result, FeedResult) and result.customer_id == "c-7"
    with service.db.read() as session:
        identity = session.exec(select(ChannelIdentity)).one()
        used = session.get(LinkToken, token)
    assert (identity.customer_id, identity.address) == ("c-7", "700")
    assert used is not None and used.used_by == "700"
    assert _row(service, row_id).processed_at is not None


@pytest.mark.parametrize("whose", ["bad", "another"])
def test_a_refused_start_link_writes_nothing(service: Service, clock: FakeClock, whose: str) -> None:
    """A bad token, or another customer's token in a chat already linked: refused with the
    reason, nothing written (the token stays unused, the chat keeps its customer, the row open)."""
    ask_delivery_csat(service, clock.now, [501, 502])
    with service.db.write() as session:
        token = links.issue_token(session, "c-502", clock.now) if whose == "another" else "no-such-token"
    row_id = _stored(service, clock, "501")
    envelope = _envelope("501", Started(bound=False), start_token=token)
    [result] = service.feed_many([Received(envelope, row_id)], now=clock.now)
    assert isinstance(result, StartRefused)
    assert result.reason == ("linked_elsewhere" if whose == "another" else "bad_link")
    with service.db.read() as session:
        owner = session.exec(select(ChannelIdentity).where(col(ChannelIdentity.address) == "501")).one()
        used = session.exec(select(LinkToken).where(col(LinkToken.used_at).is_not(None))).all()
    assert owner.customer_id == "c-501" and used == []
    assert _row(service, row_id).processed_at is None


def test_a_press_that_changes_nothing_queues_no_chat_message(service: Service, clock: FakeClock) -> None:
    """A stale press the channel acknowledges itself (a pop-up) queues no chat message; the same
    press without a pop-up to answer it is answered in the chat."""
    ask_delivery_csat(service, clock.now, [501])
    stale = ButtonPress(survey_id=424242, value="score:3")

    def replies() -> int:
        with service.db.read() as session:
            rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.status) == "pending")).all()
        return len(rows)

    before = replies()
    [popped] = service.feed_many(
        [Received(_envelope("501", stale, press_id="q1", message_id=3))], now=clock.now
    )
    assert isinstance(popped, FeedResult) and not popped.counted
    assert replies() == before
    [chatty] = service.feed_many([Received(_envelope("501", stale))], now=clock.now)
    assert isinstance(chatty, FeedResult) and replies() > before
