"""Processing the customers' inbox: each stored update is parsed once (``TelegramCustomers``) and
its envelope fed to ``Service.feed_many``, or answered by the channel (media, edits, blocks…).

The inbox row is marked processed in the same transaction as the feed (the service marks it), so
an update is answered exactly once even if the process dies half-way. Rows of one chat are
claimed one at a time, in order (see ``storage.inbox.claim``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from aiogram import Bot

from bot.channels.base import Channel, Edited, Envelope, Ignored, Media, Membership, Refused, Unparseable
from bot.channels.telegram import texts
from bot.channels.telegram.agents import DeskEvent, TelegramAgents
from bot.channels.telegram.api import AnswerCallbackQuery, call, json_body
from bot.channels.telegram.customers import FEEDABLE, CustomerEvent, TelegramCustomers
from bot.channels.telegram.transport import CHANNEL
from bot.delivery.sender import PROGRESS
from bot.engine.service import FeedResult, Received, Service, StartRefused
from bot.escalations.media import joins_open_case
from bot.escalations.records import AGENTS_CHANNEL, copy_onto_case
from bot.escalations.telegram_desk import CHANGED, AgentDesk
from bot.infra.clock import Clock
from bot.infra.retry import INBOUND, RetryPolicy
from bot.observability.metrics import UPDATES_SKIPPED
from flows.conversation import CustomerMedia, CustomerText, Inbound, ReasonSkipped, Started
from flows.conversation.state import Phase
from flows.errors import ChannelError
from flows.scales import Lang
from storage import inbox, repo
from storage.db import Database, Session
from storage.tables import Customer, Escalation

log = structlog.get_logger(__name__)


@dataclass
class ProcessorConfig:
    """Processor tuning; tests shorten the intervals."""

    batch: int = 50
    #: Batches fed at once on PostgreSQL, each in its own transaction (their database round trips
    #: overlap); SQLite has one writer, so one.
    parallel: int = 3
    idle_interval: float = 1.0
    lease: timedelta = timedelta(seconds=60)
    retry: RetryPolicy = INBOUND


class InboxLoop:
    """Claims one channel's stored updates and processes them (``process_once``) until stopped."""

    def __init__(self, db: Database, clock: Clock, channel: str, config: ProcessorConfig | None) -> None:
        self.db = db
        self.clock = clock
        self.inbox_channel = channel
        self.config = config or ProcessorConfig()
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Process until ``stop`` is set; idle passes wait ``idle_interval`` or a ``wake``."""
        while not stop.is_set():
            try:
                handled = await self.process_once()
            except Exception:
                log.exception("inbox_pass_failed", channel=self.inbox_channel)
                handled = 0
            if handled:
                continue
            self.wake.clear()
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self.wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waiters, timeout=self.config.idle_interval, return_when="FIRST_COMPLETED")
            for waiter in waiters:
                waiter.cancel()

    async def process_once(self) -> int:
        """Claim one batch (the oldest update of each chat) and process it; return its size."""
        raise NotImplementedError

    async def claim(self) -> list[inbox.ClaimedUpdate]:
        """Claim the oldest unprocessed update of each chat, up to a batch."""
        now = self.clock()
        config = self.config
        return await asyncio.to_thread(
            inbox.claim, self.db, self.inbox_channel, now, limit=config.batch, lease=config.lease
        )

    async def safely(self, row: inbox.ClaimedUpdate, work: Awaitable[None]) -> None:
        """Run ``work`` for ``row``; a failure is logged and the row retried later (or given up)."""
        try:
            await work
        except Exception as exc:
            log.exception("inbox_update_failed", inbox_id=row.id, attempts=row.attempts)
            await asyncio.to_thread(self.give_up_or_retry, row, exc)

    def give_up_or_retry(self, row: inbox.ClaimedUpdate, exc: Exception) -> None:
        """Release ``row`` for a later attempt, or mark it done with the error after the last one."""
        now = self.clock()
        error = type(exc).__name__
        delay = self.config.retry.delay(row.attempts)
        if delay is None:
            with self.db.write() as session:
                inbox.mark_processed(session, row.id, now, error=f"gave up: {error}")
        else:
            inbox.release(self.db, row.id, error, now + timedelta(seconds=delay))

    def mark(self, row_id: int, error: str | None = None) -> None:
        """Mark a row processed (``error`` records what became of it when it was not fed)."""
        with self.db.write() as session:
            inbox.mark_processed(session, row_id, self.clock(), error=error)

    def done(self, row_id: int) -> Callable[[Session], None]:
        """Return the write marking ``row_id`` processed, for another transaction to run."""
        now = self.clock()
        return lambda session: inbox.mark_processed(session, row_id, now)

    def skip(self, row: inbox.ClaimedUpdate, reason: str) -> None:
        """A broken update: recorded with its reason, logged once, counted; never retried."""
        UPDATES_SKIPPED.labels(reason.split(":", 1)[0].split(".", 1)[0][:40]).inc()
        log.warning("update_skipped", inbox_id=row.id, update_id=row.external_id, reason=reason)
        self.mark(row.id, f"skipped: {reason}")


Parsed = tuple[inbox.ClaimedUpdate, Envelope[CustomerEvent]]


class InboxProcessor(InboxLoop):
    """Feeds the customers' stored Telegram updates through the service; answers presses at once."""

    def __init__(
        self,
        service: Service,
        bot: Bot,
        secret: bytes,
        *,
        config: ProcessorConfig | None = None,
        relay_to_agents: bool = False,
    ) -> None:
        super().__init__(service.db, service.clock, CHANNEL, config)
        self.service = service
        self.bot = bot
        self.channel: Channel[CustomerEvent] = TelegramCustomers(secret)
        #: Media sent during a case an agent has is copied to the agents' group (when there is one).
        self.relay_to_agents = relay_to_agents
        #: Called after a batch was processed (the sender's wake-up: there may be replies to send).
        self.on_change: Callable[[], None] = lambda: None
        #: Asks for a due-work pass now: after /start binds a chat, its waiting survey goes at
        #: once, not at the next tick.
        self.on_due: Callable[[], None] = lambda: None
        #: Told (in a worker thread) when a customer blocks (True) or unblocks (False) the bot.
        self.on_member: Callable[[str, bool], None] = lambda chat, blocked: None

    async def process_once(self) -> int:
        """Claim one batch (the oldest update of each chat) and process it; return its size.

        Each update is parsed once. Conversation inbounds (texts, commands, presses, /start) are
        fed in one transaction (``Service.feed_many``); the rest (media, edits, blocks, forged
        presses, updates cxbot does not act on) one by one.
        """
        claimed = await self.claim()
        fed: list[Parsed] = []
        single: list[tuple[inbox.ClaimedUpdate, Envelope[CustomerEvent] | Unparseable]] = []
        for row in claimed:
            envelope = self.channel.parse(row.payload)
            if isinstance(envelope, Envelope) and isinstance(envelope.inbound, FEEDABLE):
                fed.append((row, envelope))
            else:
                single.append((row, envelope))
        if fed:
            await self._feed_batch(fed)
        for row, envelope in single:
            await self.safely(row, self._process(row, envelope))
        if claimed:
            self.on_change()
        return len(claimed)

    # -- batched updates ----------------------------------------------------------------------

    async def _feed_batch(self, fed: list[Parsed]) -> None:
        ways = 1 if self.db.is_sqlite else max(1, min(self.config.parallel, len(fed)))
        answers: list[Awaitable[None]] = []
        parts = await asyncio.gather(*(self._feed_part(fed[i::ways], answers) for i in range(ways)))
        await asyncio.gather(*answers)
        if any(parts):
            self.on_due()

    async def _feed_part(self, fed: list[Parsed], answers: list[Awaitable[None]]) -> bool:
        """Feed ``fed`` in one transaction; return True when a chat was (re)started: the surveys
        waiting for it are due now."""
        items = [Received(_inbound(envelope), row.id) for row, envelope in fed]
        try:
            results = await asyncio.to_thread(self.service.feed_many, items)
        except Exception as exc:  # the whole transaction failed: every row is retried
            log.exception("inbox_batch_failed", size=len(fed))
            results = [exc] * len(fed)
        bound = False
        for (row, envelope), result in zip(fed, results, strict=True):
            if isinstance(result, StartRefused):
                await asyncio.to_thread(self._refuse_start, row, envelope, result)
            elif isinstance(result, Exception):  # not fed: a press keeps spinning until the retry
                log.error("inbox_update_failed", inbox_id=row.id, attempts=row.attempts, error=repr(result))
                await asyncio.to_thread(self.give_up_or_retry, row, result)
            else:
                if envelope.press_id is not None:
                    answers.append(self._answer(envelope.press_id, _press_answer(result)))
                if isinstance(envelope.inbound, Started) and result.customer_id is not None:
                    if envelope.start_token:
                        log.info("chat_bound", customer_id=result.customer_id)
                    bound = True
        return bound

    def _refuse_start(self, row: inbox.ClaimedUpdate, envelope: Envelope[Any], refused: StartRefused) -> None:
        """A deep link that binds nothing: a polite message in the chat's language, the row recorded."""
        if refused.reason == "linked_elsewhere":
            # Another customer's link in a chat already theirs: never a silent move (the first
            # customer would lose their chat). Refused politely; the token stays unused.
            log.warning("start_token_of_another_customer", linked=refused.linked, token_for=refused.token_for)
            error = "refused: chat linked to another customer"
        else:
            log.info("bad_start_token")
            error = "bad start token"
        self._say(row, envelope, refused.reason, error)

    # -- one update --------------------------------------------------------------------------

    async def _process(
        self, row: inbox.ClaimedUpdate, envelope: Envelope[CustomerEvent] | Unparseable
    ) -> None:
        if isinstance(envelope, Unparseable):
            await asyncio.to_thread(self.skip, row, envelope.reason)
            return
        event = envelope.inbound
        if isinstance(event, Media):
            await asyncio.to_thread(self._media, row.id, envelope, event)
        elif isinstance(event, Edited):
            await asyncio.to_thread(self._edited, row, envelope, event)
        elif isinstance(event, Membership):
            await asyncio.to_thread(self._member, row.id, envelope.address, event.blocked)
        elif isinstance(event, Refused):  # a button whose signature does not hold: refused
            language = await asyncio.to_thread(self._language, envelope)
            if envelope.press_id is not None:
                await self._answer(envelope.press_id, texts.text("bad_button", language))
            await asyncio.to_thread(self.mark, row.id, event.reason)
            log.info("bad_callback")
        else:  # not something cxbot acts on: recorded as such
            assert isinstance(event, Ignored)
            if envelope.press_id is not None:
                await self._answer(envelope.press_id, None)
            await asyncio.to_thread(self.mark, row.id, f"ignored: {event.kind}")

    def _media(self, row_id: int, envelope: Envelope[Any], media: Media) -> None:
        """Media cxbot cannot read: say so politely, then ask the open question again (if any).
        During an open case nobody holds yet, evidence (a photo, a document…) joins the case;
        while an agent has it, the agent sees the media itself, on the case."""
        now = self.clock()
        chat = envelope.address
        with self.db.read() as session:
            identity = repo.find_identity(session, CHANNEL, chat)
        customer_id = identity.customer_id if identity else None
        state = self.service.state_of(customer_id) if customer_id else None
        if joins_open_case(state, media.kind):
            attach = Envelope(CHANNEL, chat, CustomerMedia(media=media.kind), message_id=envelope.message_id)
            self._feed_alone(attach, row_id)
            log.info("media_attached", media=media.kind)
            return
        language = self._language(envelope)
        with self.db.write() as session:
            handoff = state.handoff if state is not None else None
            escalation = session.get(Escalation, handoff) if handoff is not None else None
            message_id = envelope.message_id
            if self.relay_to_agents and escalation is not None and escalation.card_chat_id and message_id:
                copy_onto_case(session, escalation, chat, message_id, now)
                inbox.mark_processed(session, row_id, now, error=f"media relayed: {media.kind}")
                log.info("media_relayed", media=media.kind, escalation_id=escalation.id)
                return
            say = {"text": texts.text("media", language), "rows": [], "language": language.value}
            repo.enqueue_message(
                session, channel=CHANNEL, address=chat, payload=say, now=now, customer_id=customer_id
            )
            if state is not None and state.active is not None and not state.opted_out:
                question = _last_question(session, chat, state.active.survey_id)
                if question is not None:
                    repo.enqueue_message(
                        session,
                        channel=CHANNEL,
                        address=chat,
                        payload=question,
                        now=now,
                        customer_id=customer_id,
                    )
            inbox.mark_processed(session, row_id, now, error=f"media: {media.kind}")
        log.info("media_answered", media=media.kind)

    def _feed_alone(self, envelope: Envelope[Inbound], row_id: int) -> None:
        """Feed one envelope (its inbox row marked in the feed); raise what made it fail."""
        [result] = self.service.feed_many([Received(envelope, row_id)])
        if isinstance(result, Exception):
            raise result

    def _edited(self, row: inbox.ClaimedUpdate, envelope: Envelope[Any], edited: Edited) -> None:
        """An edited message answers the open question when it was written while that question
        was open and nothing has answered it since (still waiting for a score); else ignored."""
        with self.db.read() as session:
            identity = repo.find_identity(session, CHANNEL, envelope.address)
        state = self.service.state_of(identity.customer_id) if identity else None
        active = state.active if state is not None else None
        written = edited.written_at
        if (
            active is None
            or active.phase != Phase.SCORE
            or written is None
            or written < active.asked_at - timedelta(seconds=1)  # Telegram's dates are in whole seconds
        ):
            self.mark(row.id, "ignored: edited_message (no open question)")
            return
        answer = Envelope(CHANNEL, envelope.address, CustomerText(text=edited.text), envelope.language_hint)
        self._feed_alone(answer, row.id)

    def _member(self, row_id: int, chat: str, blocked: bool) -> None:
        """The customer blocked the bot (no more sends) or started it again: the surveys that
        waited for a reachable chat meanwhile become due again."""
        now = self.clock()
        with self.db.write() as session:
            known = repo.set_identity_blocked(session, CHANNEL, chat, now if blocked else None)
            identity = repo.find_identity(session, CHANNEL, chat) if known else None
            if identity is not None and not blocked:
                repo.release_waiting_work(session, identity.customer_id, now)
            inbox.mark_processed(session, row_id, now, error=None)
        log.info("chat_blocked_by_user" if blocked else "chat_unblocked_by_user", known=known)
        if known:
            self.on_member(chat, blocked)

    def _language(self, envelope: Envelope[Any]) -> Lang:
        """The chat's language: its customer's, else the client's, else the journey's default."""
        with self.db.read() as session:
            identity = repo.find_identity(session, CHANNEL, envelope.address)
            customer = session.get(Customer, identity.customer_id) if identity else None
            if customer is not None:
                return Lang(customer.language)
        return envelope.language_hint or self.service.journey.default_language

    def _say(self, row: inbox.ClaimedUpdate, envelope: Envelope[Any], key: str, error: str) -> None:
        """Answer with the channel text ``key`` and record the row as done with ``error``."""
        now = self.clock()
        language = self._language(envelope)
        with self.db.write() as session:
            identity = repo.find_identity(session, CHANNEL, envelope.address)
            repo.enqueue_message(
                session,
                channel=CHANNEL,
                address=envelope.address,
                payload={"text": texts.text(key, language), "rows": [], "language": language.value},
                now=now,
                customer_id=identity.customer_id if identity else None,
            )
            inbox.mark_processed(session, row.id, now, error=error)

    async def _answer(self, query_id: str, text: str | None) -> None:
        try:
            body = (
                {"callback_query_id": query_id}
                if text is None
                else {"callback_query_id": query_id, "text": text}
            )
            await call(self.bot, AnswerCallbackQuery(None, json_body(body)))
        except ChannelError as exc:  # a late answer only leaves a spinner; never worth a retry
            log.info("callback_answer_failed", error=str(exc))


class AgentsProcessor(InboxLoop):
    """Hands the agents' group's stored updates to the desk, one at a time, each read once."""

    def __init__(
        self, db: Database, clock: Clock, desk: AgentDesk, *, config: ProcessorConfig | None = None
    ) -> None:
        super().__init__(db, clock, AGENTS_CHANNEL, config)
        self.desk = desk
        self.channel: Channel[DeskEvent] = TelegramAgents(desk.config.agents_chat_id)
        #: Called after a batch was processed (the agents' sender's wake-up).
        self.on_change: Callable[[], None] = lambda: None

    async def process_once(self) -> int:
        """Claim one batch (the oldest update of each chat) and handle it; return its size."""
        claimed = await self.claim()
        for row in claimed:
            await self.safely(row, self._process(row))
        if claimed:
            self.on_change()
        return len(claimed)

    async def _process(self, row: inbox.ClaimedUpdate) -> None:
        envelope = self.channel.parse(row.payload)
        if isinstance(envelope, Unparseable):
            await asyncio.to_thread(self.skip, row, envelope.reason)
            return
        # A change (a take, a relayed reply…) marks the update done in its own transaction, so
        # a crash in between cannot relay it twice; anything else is marked afterwards.
        outcome = await self.desk.handle(envelope, within=self.done(row.id))
        if outcome not in CHANGED:
            event = envelope.inbound
            await asyncio.to_thread(
                self.mark, row.id, f"ignored: {event.kind}" if isinstance(event, Ignored) else None
            )


def _inbound(envelope: Envelope[CustomerEvent]) -> Envelope[Inbound]:
    """The same envelope, typed as carrying a conversation inbound (checked by the caller)."""
    assert isinstance(envelope.inbound, FEEDABLE)
    return envelope  # type: ignore[return-value]


def _press_answer(result: FeedResult) -> str | None:
    """The pop-up of a fed press: none when it counted (the question shows the choice) or for a
    stranger (the reply is a message); "skipped" for a skip; else it changed nothing (stale)."""
    language = result.state.language
    if result.customer_id is None:
        return None
    if any(isinstance(action, ReasonSkipped) for action in result.actions):
        return texts.text("skipped", language)
    return None if result.counted else texts.text("stale_button", language)


def _last_question(session: Session, address: str, survey_id: int) -> dict[str, Any] | None:
    """Return the payload of the last message sent in this chat for ``survey_id`` (to ask it again)."""
    for row in repo.sent_messages(session, CHANNEL, address, limit=20):
        if row.payload.get("survey_id") == survey_id:
            return {k: v for k, v in row.payload.items() if k not in ("message_id", PROGRESS)}
    return None
