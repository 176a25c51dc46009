"""The service's one entry point: feed an inbound event → load state → step → persist → deliver.

Every channel (Telegram, Rasa, the shell, the demo) and the scheduler's timers go through
``Service.feed``. State, stored answers, escalations, timers and outgoing messages are written
in one transaction, so a crash at any point loses nothing and sends nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from bot.apply import Address, ApplyContext, apply_actions
from bot.clock import Clock, utcnow
from bot.observability import metrics
from flows.conversation import Action, ConversationState, Engine, Inbound
from flows.errors import CxbotError, StorageError
from flows.escalation import ServiceLevels
from flows.journey import Journey
from flows.scales import Lang
from storage import repo
from storage.db import Database
from storage.tables import Conversation

#: Called inside the feed transaction after the actions are applied (e.g. to post escalation cards).
AfterApply = Callable[[ApplyContext], None]


@dataclass(frozen=True)
class FeedResult:
    """What one feed did."""

    actions: list[Action]
    state: ConversationState
    version: int
    customer_id: str


#: Who an inbound is from: a customer id, or a function finding it inside the feed's transaction
#: (returning the identity it found, when it looked one up, saves the step looking again).
CustomerRef = str | Callable[[Session], str | repo.IdentityRow]


@dataclass(frozen=True)
class FeedItem:
    """One inbound for ``Service.feed_many``.

    ``then`` runs inside the same transaction once the step is persisted, with its result (e.g.
    to mark the inbox row done, or to queue an edit that depends on what the step did).
    """

    customer: CustomerRef
    inbound: Inbound
    via: Address | None = None
    then: Callable[[Session, FeedResult], None] | None = None


class _ItemFailed(Exception):
    """One item of a batch failed: the batch is rolled back and fed again without it."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"item {index} failed: {error!r}")
        self.index = index
        self.error = error


def _count(counts: list[Callable[[], None]]) -> None:
    """Make the metric updates of a committed transaction."""
    for count in counts:
        count()


class Service:
    """Runs the journey's conversations on a database."""

    def __init__(
        self, db: Database, journey: Journey, *, clock: Clock = utcnow, levels: ServiceLevels | None = None
    ) -> None:
        self.db = db
        self.journey = journey
        self.engine = Engine(journey)
        self.clock = clock
        #: When escalations are due (bot.settings.service_levels; default: the journey's rules on
        #: the default company calendar).
        self.levels = levels or ServiceLevels(journey.escalation)
        self.after_apply: list[AfterApply] = []

    def feed(
        self,
        customer_id: str,
        inbound: Inbound,
        *,
        via: Address | None = None,
        now: datetime | None = None,
        within: Callable[[Session], None] | None = None,
    ) -> FeedResult:
        """Step the customer's conversation with ``inbound`` and persist everything at once.

        ``via`` is where the inbound came from (replies go there); timers pass None and the
        customer's most recently seen reachable identity is used. ``within`` runs extra writes
        in the same transaction (e.g. marking the timer or inbox row done).

        Raises:
            StorageError: when the database fails; nothing is written then.
        """
        now = now or self.clock()
        then = (lambda session, _result: within(session)) if within is not None else None
        counts: list[Callable[[], None]] = []
        with self.db.write() as session:
            result = self._step(session, FeedItem(customer_id, inbound, via, then), now, counts)
        _count(counts)
        return result

    def feed_many(
        self, items: list[FeedItem], *, now: datetime | None = None
    ) -> list[FeedResult | Exception]:
        """Feed ``items`` in order in one transaction; return a result, or the item's error, for each.

        One commit for a whole batch is what makes a busy inbox fast (a commit costs more than a
        step). An item that raises is set aside with its error, for the caller to retry, and the
        batch is rolled back and fed again without it: rarer than a savepoint per item is costly.

        Raises:
            StorageError: when the database fails; nothing of the batch is written then.
        """
        now = now or self.clock()
        results: dict[int, FeedResult | Exception] = {}
        pending = list(enumerate(items))
        while pending:
            counts: list[Callable[[], None]] = []
            try:
                with self.db.write() as session:
                    done = [(index, self._step(session, item, now, counts, index)) for index, item in pending]
            except _ItemFailed as failed:
                results[failed.index] = failed.error
                pending = [(index, item) for index, item in pending if index != failed.index]
                continue
            _count(counts)
            results.update(done)
            break
        return [results[index] for index in range(len(items))]

    def _step(
        self,
        session: Session,
        item: FeedItem,
        now: datetime,
        counts: list[Callable[[], None]],
        index: int | None = None,
    ) -> FeedResult:
        if index is None:
            return self._step_one(session, item, now, counts)
        try:
            return self._step_one(session, item, now, counts)
        except StorageError:
            raise
        except (CxbotError, IntegrityError, DataError, ValueError, KeyError, TypeError) as exc:
            raise _ItemFailed(index, exc) from exc

    def _step_one(
        self, session: Session, item: FeedItem, now: datetime, counts: list[Callable[[], None]]
    ) -> FeedResult:
        started = time.perf_counter()
        via = item.via
        found = item.customer if isinstance(item.customer, str) else item.customer(session)
        known = found if isinstance(found, repo.IdentityRow) else None
        customer_id = known.customer_id if known else str(found)
        customer, conversation = repo.lock_customer_conversation(session, customer_id, now)
        if conversation.state:
            state = ConversationState.model_validate(conversation.state)
        else:
            state = ConversationState(language=Lang(customer.language), opted_out=customer.opted_out)
        if via is not None:
            repo.bind_identity(session, customer_id, via.channel, via.address, now, known=known)
            address: Address | None = via
        else:
            identity = repo.reachable_identity(session, customer_id)
            address = Address(identity.channel, identity.address) if identity else None
        new_state, actions = self.engine.step(state, item.inbound, now)
        ctx = ApplyContext(session=session, customer=customer, address=address, now=now, levels=self.levels)
        apply_actions(ctx, actions)
        _persist_reasks(session, state, new_state)
        for hook in self.after_apply:
            hook(ctx)
        version = conversation.version + 1
        repo.save_conversation(session, customer_id, new_state.model_dump(mode="json"), version, now)
        result = FeedResult(actions=actions, state=new_state, version=version, customer_id=customer_id)
        if item.then is not None:
            item.then(session, result)
        kind, took = item.inbound.kind, time.perf_counter() - started
        counts += ctx.counts
        counts.append(lambda: metrics.HANDLER_SECONDS.labels(kind).observe(took))
        counts.append(metrics.UPDATES.labels(kind, via.channel if via else "timer").inc)
        return result

    def state_of(self, customer_id: str) -> ConversationState | None:
        """Return the customer's stored conversation state, or None when there is none."""
        with self.db.read() as session:
            row = session.get(Conversation, customer_id)
            return ConversationState.model_validate(row.state) if row and row.state else None


def _persist_reasks(session: Session, before: ConversationState, after: ConversationState) -> None:
    """Write the open survey's re-ask count when this step re-asked it (the funnel's "re-asked").

    Re-asks happen inside the conversation state only; the report counts them from
    ``survey_instances.reasks``, so the count is copied there whenever it grew.
    """
    active = after.active
    if active is None or active.reasks == 0:
        return
    earlier = before.active.reasks if before.active and before.active.survey_id == active.survey_id else 0
    if active.reasks > earlier:
        repo.update_survey(session, active.survey_id, {"reasks": active.reasks})
