"""The service's one entry point: feed an inbound event → load state → step → persist → deliver.

Every channel (Telegram, Rasa, the shell, the demo) and the scheduler's timers go through
``Service.feed``. State, stored answers, escalations, timers and outgoing messages are written
in one transaction, so a crash at any point loses nothing and sends nothing twice.

What a channel received (an ``Envelope``) is fed as ``Received``: the service finds the customer
behind the address itself, inside that transaction (the identity, or a deep link's token), marks
the channel's inbox row done in it, and answers a chat no customer owns without storing anything.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import structlog

from bot.engine.apply import Address, ApplyContext, apply_actions
from bot.infra.clock import Clock, utcnow
from bot.observability import metrics
from flows.conversation import (
    Action,
    ButtonPress,
    ConversationState,
    Engine,
    Inbound,
    Send,
    Started,
    SurveyDue,
)
from flows.conversation.envelope import Envelope
from flows.conversation.handoff import HUMAN
from flows.errors import CxbotError, InputError, StorageError
from flows.escalation import ServiceLevels
from flows.journey import Journey
from flows.scales import Lang
from storage import deferred, inbox, links, repo
from storage.db import REFUSED_WRITE, Database, Session
from storage.tables import Conversation

log = structlog.get_logger(__name__)

#: Called inside the feed transaction after the actions are applied (e.g. to post escalation cards).
AfterApply = Callable[[ApplyContext], None]

#: Returns the survey that waited for a customer's chat and may be asked with the welcome of the
#: /start that binds it (its timer's id and its inbound), inside the feed's transaction; see
#: ``bot.engine.timers.due_in_session`` (``bot.engine.wiring`` sets it: timers are fed through the service).
DueAtStart = Callable[[Session, str, datetime], "tuple[int, SurveyDue] | None"]

#: The longest message text (Telegram's limit; an edited question is cut to it).
MAX_TEXT = 4096

#: Customers made for unknown Telegram chats before data minimisation (``tg-<chat id>``): a start
#: link of a customer the shop named may take their chat over.
LEGACY_PREFIX = "tg-"


@dataclass(frozen=True)
class FeedResult:
    """What one feed did (``customer_id`` None: a stranger was answered, nothing stored)."""

    actions: list[Action]
    state: ConversationState
    version: int
    customer_id: str | None

    @property
    def counted(self) -> bool:
        """True when the inbound changed something besides replies (a score, a status, a language…)."""
        return any(not isinstance(action, Send) for action in self.actions)


@dataclass(frozen=True)
class FeedItem:
    """One inbound of a known customer for ``Service.feed_many``."""

    customer: str
    inbound: Inbound
    via: Address | None = None


@dataclass(frozen=True)
class Received:
    """One inbound a channel received, for ``Service.feed_many``: the customer is found inside the
    feed's transaction (see ``Service._find``) and the inbox row ``inbox_id`` marked done in it."""

    envelope: Envelope[Inbound]
    inbox_id: int | None = None


class StartRefused(InputError):
    """A deep link that binds nothing: ``reason`` is "bad_link" (an unknown, expired or used token)
    or "linked_elsewhere" (the chat belongs to another customer: never moved silently)."""

    def __init__(self, reason: str, *, linked: str | None = None, token_for: str | None = None) -> None:
        super().__init__(f"start link refused: {reason}", field="start")
        self.reason = reason
        self.linked = linked
        self.token_for = token_for


@dataclass(frozen=True)
class _Found:
    customer_id: str
    identity: repo.IdentityRow | None
    inbound: Inbound


class _ItemFailed(Exception):
    """One item of a batch failed: the batch is rolled back and fed again without it."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"item {index} failed: {error!r}")
        self.index = index
        self.error = error


@dataclass
class _Prefetched:
    """What a batch's steps would each read first, read for all of them at once: the identity
    behind each chat (None: nobody's), and each customer's row and locked conversation. Each
    entry serves one step (popped); a step without one reads as usual.

    Only customers with a single item in the batch are read ahead (one step may change what a
    later step of the same customer would read: a new state, an erasure), and nothing when a
    deep link is followed (it binds a chat to a customer found only then).
    """

    identities: dict[tuple[str, str], repo.IdentityRow | None]
    conversations: dict[str, tuple[repo.CustomerView, repo.ConversationRow]]

    @classmethod
    def read(cls, session: Session, items: list[FeedItem | Received]) -> _Prefetched:
        """Read ahead for ``items`` (two statements per batch, whatever its size)."""
        received = [item.envelope for item in items if isinstance(item, Received)]
        if any(envelope.start_token for envelope in received):
            return cls({}, {})
        identities: dict[tuple[str, str], repo.IdentityRow | None] = {}
        for channel in {envelope.channel for envelope in received}:
            addresses = [envelope.address for envelope in received if envelope.channel == channel]
            found = repo.find_identities(session, channel, addresses)
            identities.update({(channel, address): found.get(address) for address in addresses})
        whose = [item.customer for item in items if isinstance(item, FeedItem)]
        whose += [identity.customer_id for identity in identities.values() if identity is not None]
        once = [customer for customer, n in Counter(whose).items() if n == 1]
        for where, identity in list(identities.items()):
            if identity is not None and identity.customer_id not in once:
                del identities[where]  # read when its step comes
        return cls(identities, repo.lock_customers_conversations(session, sorted(once)))


#: What fails one item of a batch (set aside, the others fed again) rather than the whole batch.
_ITEM_ERRORS: tuple[type[Exception], ...] = (CxbotError, *REFUSED_WRITE, ValueError, KeyError, TypeError)


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
        #: When escalations are due (bot.infra.settings.service_levels; default: the journey's rules on
        #: the default company calendar).
        self.levels = levels or ServiceLevels(journey.escalation)
        self.after_apply: list[AfterApply] = []
        self.due_at_start: DueAtStart | None = None

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
        counts: list[Callable[[], None]] = []
        with self.db.write() as session:
            result = self._step(session, FeedItem(customer_id, inbound, via), now, counts, within=within)
        _count(counts)
        return result

    def feed_many(
        self, items: Sequence[FeedItem | Received], *, now: datetime | None = None
    ) -> list[FeedResult | Exception]:
        """Feed ``items`` in order in one transaction; return a result, or the item's error, for each.

        One commit for a whole batch is what makes a busy inbox fast (a commit costs more than a
        step). An item that raises is set aside with its error, for the caller to retry, and the
        batch is rolled back and fed again without it: rarer than a savepoint per item is costly.

        A ``Received`` item's customer is found where it wrote (see ``_find``); a deep link it
        cannot follow comes back as ``StartRefused``, with nothing written for it.

        Raises:
            StorageError: when the database fails; nothing of the batch is written then.
        """
        now = now or self.clock()
        results: dict[int, FeedResult | Exception] = {}
        pending = list(enumerate(items))
        batched = len(pending) > 1  # writes held back and sent together; reads made up front
        while pending:
            counts: list[Callable[[], None]] = []
            try:
                with self.db.write() as session:
                    if batched:
                        with deferred.deferring(session):
                            known = _Prefetched.read(session, [item for _, item in pending])
                            done = [
                                (index, self._step(session, item, now, counts, index, known=known))
                                for index, item in pending
                            ]
                    else:
                        done = [
                            (index, self._step(session, item, now, counts, index)) for index, item in pending
                        ]
            except _ItemFailed as failed:
                results[failed.index] = failed.error
                pending = [(index, item) for index, item in pending if index != failed.index]
                continue
            except deferred.DeferredWriteFailed:
                # Rolled back: fed again writing at once, which names the item that fails.
                log.warning("batch_write_refused", size=len(pending))
                batched = False
                continue
            _count(counts)
            results.update(done)
            break
        return [results[index] for index in range(len(items))]

    def _step(
        self,
        session: Session,
        item: FeedItem | Received,
        now: datetime,
        counts: list[Callable[[], None]],
        index: int | None = None,
        within: Callable[[Session], None] | None = None,
        known: _Prefetched | None = None,
    ) -> FeedResult:
        if index is None:
            return self._step_one(session, item, now, counts, within, known)
        try:
            return self._step_one(session, item, now, counts, within, known)
        except StorageError:
            raise
        except _ITEM_ERRORS as exc:
            raise _ItemFailed(index, exc) from exc

    def _step_one(
        self,
        session: Session,
        item: FeedItem | Received,
        now: datetime,
        counts: list[Callable[[], None]],
        within: Callable[[Session], None] | None,
        known: _Prefetched | None = None,
    ) -> FeedResult:
        started = time.perf_counter()
        envelope = item.envelope if isinstance(item, Received) else None
        who = self._who(session, item, now, known)
        if who is None:
            assert isinstance(item, Received)
            return self._stranger(session, item, now)
        found, via = who
        customer_id = found.customer_id
        locked = known.conversations.pop(customer_id, None) if known is not None else None
        customer, conversation = locked or repo.lock_customer_conversation(session, customer_id, now)
        if conversation.state:
            state = ConversationState.model_validate(conversation.state)
        else:
            state = ConversationState(language=Lang(customer.language), opted_out=customer.opted_out)
        if via is not None:
            repo.bind_identity(session, customer_id, via.channel, via.address, now, known=found.identity)
            address: Address | None = via
        else:
            identity = repo.reachable_identity(session, customer_id)
            address = Address(identity.channel, identity.address) if identity else None
        new_state, actions = self.engine.step(state, found.inbound, now)
        version = conversation.version + 1
        result = FeedResult(actions=actions, state=new_state, version=version, customer_id=customer_id)
        message_id = envelope.message_id if envelope is not None else None
        ctx = ApplyContext(
            session=session,
            customer=customer,
            address=address,
            now=now,
            levels=self.levels,
            message_id=message_id,
        )
        # A press the channel acknowledges itself that changed nothing is answered there (a
        # pop-up): its replies are not sent as chat messages as well.
        silent = envelope is not None and envelope.press_id is not None and not result.counted
        apply_actions(ctx, [] if silent else actions)
        _persist_reasks(session, state, new_state)
        for hook in self.after_apply:
            hook(ctx)
        repo.save_conversation(session, customer_id, new_state.model_dump(mode="json"), version, now)
        if envelope is not None and isinstance(found.inbound, ButtonPress) and result.counted:
            _show_choice(session, envelope, found.inbound.value, customer_id, now)
        if isinstance(item, Received) and item.inbox_id is not None:
            inbox.mark_processed(session, item.inbox_id, now)
        if within is not None:
            within(session)
        kind, took = found.inbound.kind, time.perf_counter() - started
        # Appliers may add counts when held-back writes are sent (end of batch): read them then.
        counts.append(partial(_count, ctx.counts))
        counts.append(lambda: metrics.HANDLER_SECONDS.labels(kind).observe(took))
        counts.append(metrics.UPDATES.labels(kind, via.channel if via else "timer").inc)
        return result

    def _who(
        self, session: Session, item: FeedItem | Received, now: datetime, known: _Prefetched | None = None
    ) -> tuple[_Found, Address | None] | None:
        """Return who the item is from and where it came from (None: a stranger)."""
        if isinstance(item, FeedItem):
            return _Found(item.customer, None, item.inbound), item.via
        envelope = item.envelope
        found = self._find(session, envelope, now, known)
        return None if found is None else (found, Address(envelope.channel, envelope.address))

    def _find(
        self, session: Session, envelope: Envelope[Inbound], now: datetime, known: _Prefetched | None = None
    ) -> _Found | None:
        """Return the customer behind ``envelope``'s address, or None for a stranger.

        Found, never created: by the channel identity, or by a deep link's start token (which
        binds the chat, and makes the surveys that waited for one due). A chat no customer owns
        stays a stranger: nothing is stored about people the shop never named.

        Raises:
            StartRefused: a token that binds nothing, or another customer's in a chat already linked.
        """
        where = (envelope.channel, envelope.address)
        if known is not None and where in known.identities:
            identity = known.identities.pop(where)
        else:
            identity = repo.find_identity(session, *where)
        inbound = envelope.inbound
        token = envelope.start_token
        if token:
            customer_id = links.redeem_token(session, token, envelope.address, now)
            if customer_id is None:
                raise StartRefused("bad_link")
            linked = identity.customer_id if identity is not None else None
            if linked is not None and linked != customer_id and not linked.startswith(LEGACY_PREFIX):
                # The first customer would lose their chat: refused, the token stays unused (rollback).
                raise StartRefused("linked_elsewhere", linked=linked, token_for=customer_id)
            # The survey that waited for this chat comes with the welcome, in the same message.
            due = self.due_at_start(session, customer_id, now) if self.due_at_start is not None else None
            repo.release_waiting_work(session, customer_id, now)
            if due is not None:
                repo.finish_work(session, due[0], now)
            if isinstance(inbound, Started):
                inbound = inbound.model_copy(update={"due": due[1] if due is not None else None})
        elif identity is not None:
            customer_id = identity.customer_id
        else:
            return None
        if isinstance(inbound, Started):  # "bound": the chat belongs to a customer the shop named
            inbound = inbound.model_copy(update={"bound": not customer_id.startswith(LEGACY_PREFIX)})
        return _Found(customer_id, identity, inbound)

    def _stranger(self, session: Session, item: Received, now: datetime) -> FeedResult:
        """Answer a chat no customer owns like anyone (welcome, help, privacy, language), storing
        nothing about it: the engine steps on a fresh state and only its replies are kept."""
        envelope = item.envelope
        language = envelope.language_hint or self.journey.default_language
        state, actions = self.engine.step(ConversationState(language=language), envelope.inbound, now)
        replies = [action for action in actions if isinstance(action, Send)]
        for reply in replies:
            payload = {
                "text": reply.text,
                "rows": _stranger_rows(reply),
                "survey_id": None,
                "language": language.value,
            }
            repo.enqueue_message(
                session, channel=envelope.channel, address=envelope.address, payload=payload, now=now
            )
        if item.inbox_id is not None:
            inbox.mark_processed(session, item.inbox_id, now, error="stranger: answered, nothing stored")
        return FeedResult(actions=list(replies), state=state, version=0, customer_id=None)

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
        repo.set_survey(session, active.survey_id, {"reasks": active.reasks})


def _stranger_rows(reply: Send) -> list[list[dict[str, str]]]:
    """The reply's buttons minus "talk to a person": no case can be opened for a chat no
    customer owns (the shop has not named them), so the button would promise what cannot happen."""
    rows = [[{"label": c.label, "value": c.value} for c in row if c.value != HUMAN] for row in reply.rows]
    return [row for row in rows if row]


def _show_choice(
    session: Session, envelope: Envelope[Inbound], value: str, customer_id: str, now: datetime
) -> None:
    """Show the chosen value on the pressed question and remove its buttons (an outbox edit)."""
    if envelope.message_id is None:
        return
    question = repo.sent_message(session, envelope.channel, envelope.address, envelope.message_id)
    text: str | None = None
    if question is not None:
        label = _label(question.payload, value)
        original = str(question.payload.get("text") or "")
        mark = "⏭️" if value == "skip" else "✅"
        text = f"{original}\n\n{mark} {label}"[:MAX_TEXT] if label else None
    repo.enqueue_message(
        session,
        channel=envelope.channel,
        address=envelope.address,
        payload={"message_id": envelope.message_id, "text": text},
        now=now,
        customer_id=customer_id,
        kind="edit",
        dedupe_key=f"{envelope.channel}-edit:{envelope.address}:{envelope.message_id}"[:128],
    )


def _label(payload: dict[str, Any], value: str) -> str | None:
    for row in payload.get("rows") or []:
        for choice in row:
            if choice.get("value") == value:
                return str(choice.get("label"))
    return None
