"""A batch of inbounds fed in one transaction: one commit; a failing item is set aside alone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.engine.apply import Address, ApplyContext
from bot.engine.service import FeedItem, FeedResult, Received, Service
from bot.observability import metrics
from flows.conversation import CustomerText
from flows.conversation.envelope import Envelope
from flows.errors import ConflictError
from storage import repo
from storage.tables import Conversation, Response, SurveyInstance
from tests.clocks import FakeClock
from tests.seeding import ask_delivery_csat

CHATS = [501, 502, 503]


def _break_feeds_of(service: Service, customer_id: str) -> None:
    """Make every feed of ``customer_id`` fail inside the transaction (a lost race, say)."""

    def hook(ctx: ApplyContext) -> None:
        if ctx.customer.id == customer_id:
            raise ConflictError("lost a race")

    service.after_apply.append(hook)


def _commits(service: Service) -> list[int]:
    commits: list[int] = []
    event.listen(service.db.engine, "commit", lambda _conn: commits.append(1))
    return commits


def test_batch_stores_every_answer_in_one_commit(service: Service, clock: FakeClock) -> None:
    """Three customers' scores fed as one batch are all stored, with their orders, in one commit."""
    ask_delivery_csat(service, clock.now, CHATS)
    commits = _commits(service)
    items = [FeedItem(f"c-{chat}", CustomerText(text="4"), Address("telegram", str(chat))) for chat in CHATS]
    results = service.feed_many(items, now=clock.now)
    assert all(isinstance(r, FeedResult) for r in results)
    assert [r.customer_id for r in results if isinstance(r, FeedResult)] == [f"c-{c}" for c in CHATS]
    assert len(commits) == 1
    with service.db.read() as session:
        stored = session.exec(select(Response).order_by(col(Response.customer_id))).all()
    assert [(r.customer_id, r.order_id, r.score, r.channel) for r in stored] == [
        (f"c-{c}", f"o-{c}", 4, "telegram") for c in CHATS
    ]


def test_failing_item_is_rolled_back_alone(service: Service, clock: FakeClock) -> None:
    """An item that raises comes back as its error; its writes are undone and the others are kept."""
    ask_delivery_csat(service, clock.now, CHATS)

    _break_feeds_of(service, "c-502")
    items = [
        FeedItem("c-501", CustomerText(text="4"), Address("telegram", "501")),
        FeedItem("c-502", CustomerText(text="1"), Address("telegram", "502")),
        FeedItem("c-503", CustomerText(text="5"), Address("telegram", "503")),
    ]
    with service.db.read() as session:
        before = session.get(Conversation, "c-502")
        assert before is not None
        version_before = before.version
    results = service.feed_many(items, now=clock.now)
    assert isinstance(results[1], ConflictError)
    assert isinstance(results[0], FeedResult) and isinstance(results[2], FeedResult)
    with service.db.read() as session:
        scores = {r.customer_id: r.score for r in session.exec(select(Response))}
        after = session.get(Conversation, "c-502")
    assert scores == {"c-501": 4, "c-503": 5}
    assert after is not None and after.version == version_before


def test_score_after_a_comment_keeps_the_comment(service: Service, clock: FakeClock) -> None:
    """A score stored over a comment-only response keeps the comment's words, flag and topics."""
    ask_delivery_csat(service, clock.now, [601])
    with service.db.write() as session:
        survey = session.exec(select(SurveyInstance).where(col(SurveyInstance.stage) == "delivered")).one()
        repo.insert_response(
            session,
            {
                "survey_id": survey.id,
                "customer_id": "c-601",
                "stage": "delivered",
                "language": "en",
                "channel": "telegram",
                "answered_at": clock.now,
                "comment": "box was crushed",
                "negative": True,
                "topics": ["damaged"],
                "late": False,
            },
        )
        repo.store_score(
            session,
            {
                "survey_id": survey.id,
                "customer_id": "c-601",
                "stage": "delivered",
                "metric": "csat",
                "score": 2,
                "language": "en",
                "channel": "telegram",
                "answered_at": clock.now,
            },
        )
    with service.db.read() as session:
        [response] = session.exec(select(Response)).all()
    assert (response.score, response.comment, response.negative, response.topics) == (
        2,
        "box was crushed",
        True,
        ["damaged"],
    )
    assert response.order_id == "o-601"


def test_answers_are_counted_once_when_a_batch_is_fed_again(service: Service, clock: FakeClock) -> None:
    """A batch fed again without its failing item counts each stored answer once in /metrics."""
    ask_delivery_csat(service, clock.now, CHATS)

    _break_feeds_of(service, "c-503")

    def answers() -> float:
        return (
            metrics.REGISTRY.get_sample_value(
                "cxbot_answers_stored_total", {"stage": "delivered", "metric": "csat"}
            )
            or 0.0
        )

    before = answers()
    items = [
        FeedItem("c-501", CustomerText(text="4"), Address("telegram", "501")),
        FeedItem("c-502", CustomerText(text="1"), Address("telegram", "502")),
        FeedItem("c-503", CustomerText(text="5"), Address("telegram", "503")),
    ]
    service.feed_many(items, now=clock.now)
    assert answers() - before == 2


def _statements(service: Service) -> list[str]:
    seen: list[str] = []
    event.listen(
        service.db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_rest: seen.append(sql.split()[0])
    )
    return seen


def test_batch_reads_ahead_and_sends_its_writes_together(service: Service, clock: FakeClock) -> None:
    """Ten chats' scores, as a channel feeds them, cost a fixed number of statements, not a set per chat."""
    chats = list(range(701, 711))
    ask_delivery_csat(service, clock.now, chats)
    seen = _statements(service)
    items = [Received(Envelope("telegram", str(chat), CustomerText(text="4"))) for chat in chats]
    results = service.feed_many(items, now=clock.now)
    assert [r.customer_id for r in results if isinstance(r, FeedResult)] == [f"c-{chat}" for chat in chats]
    reads = [sql for sql in seen if sql.upper() == "SELECT"]
    assert len(reads) == 2  # the ten chats' identities, then their conversations (locked)
    assert len(seen) < 20  # ~7 a customer when each went alone
    with service.db.read() as session:
        assert len(session.exec(select(Response)).all()) == 10


def test_refused_held_back_write_sets_its_item_aside(service: Service, clock: FakeClock) -> None:
    """A write the database refuses at the end of a batch (an outbox row breaking a constraint)
    comes back as that item's error; the other items are stored."""
    ask_delivery_csat(service, clock.now, CHATS)

    def unstorable(ctx: ApplyContext) -> None:
        if ctx.customer.id == "c-502":
            no_address: Any = None  # NOT NULL in the table
            repo.enqueue_message(
                ctx.session, channel="telegram", address=no_address, payload={}, now=clock.now
            )

    service.after_apply.append(unstorable)
    items = [FeedItem(f"c-{chat}", CustomerText(text="4"), Address("telegram", str(chat))) for chat in CHATS]
    results = service.feed_many(items, now=clock.now)
    assert isinstance(results[1], IntegrityError)
    assert isinstance(results[0], FeedResult) and isinstance(results[2], FeedResult)
    with service.db.read() as session:
        scores = {r.customer_id: r.score for r in session.exec(select(Response))}
    assert scores == {"c-501": 4, "c-503": 4}


def test_same_customer_twice_in_a_batch_sees_the_first_step(service: Service, clock: FakeClock) -> None:
    """Two inbounds of one customer in one batch step in turn: the second starts from the state
    the first stored (nothing read ahead for them)."""
    ask_delivery_csat(service, clock.now, [801])
    items = [
        FeedItem("c-801", CustomerText(text="4"), Address("telegram", "801")),
        FeedItem("c-801", CustomerText(text="the box was crushed"), Address("telegram", "801")),
    ]
    results = service.feed_many(items, now=clock.now)
    first, second = results
    assert isinstance(first, FeedResult) and isinstance(second, FeedResult)
    assert second.version == first.version + 1
    with service.db.read() as session:
        [response] = session.exec(select(Response)).all()
    assert response.score == 4 and response.comment == "the box was crushed"
