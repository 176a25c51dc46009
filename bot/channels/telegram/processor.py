"""Processing the inbox: each stored update becomes one ``Service.feed`` (or a channel reply).

The inbox row is marked processed in the same transaction as the feed (``within=``), so an
update is answered exactly once even if the process dies half-way. Rows of one chat are claimed
one at a time, in order (see ``inbox.claim``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiogram import Bot
from sqlalchemy import delete
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.apply import Address
from bot.channels.telegram import callbacks, inbox, texts
from bot.channels.telegram.api import call
from bot.channels.telegram.transport import CHANNEL, MAX_TEXT
from bot.channels.telegram.updates import (
    CallbackIn,
    EditedIn,
    MediaIn,
    MemberIn,
    Skipped,
    TextIn,
    command,
    parse,
    read,
)
from bot.escalations.media import attach_to_open_case
from bot.escalations.telegram_desk import CHANGED
from bot.observability.metrics import UPDATES_SKIPPED
from bot.sender import PROGRESS
from bot.service import FeedItem, FeedResult, Service
from bot.timers import due_at_start
from flows.conversation import (
    ButtonPress,
    Command,
    CommandName,
    CustomerText,
    Inbound,
    ReasonSkipped,
    Send,
    Started,
)
from flows.conversation.handoff import HUMAN
from flows.conversation.state import ConversationState, Phase
from flows.errors import ChannelError, ConflictError
from flows.scales import Lang
from storage import links, repo
from storage.tables import ChannelIdentity, Customer, Escalation, OutboxMessage

log = structlog.get_logger(__name__)

_COMMANDS = {
    "help": CommandName.HELP,
    "aiuto": CommandName.HELP,
    "language": CommandName.LANGUAGE,
    "lingua": CommandName.LANGUAGE,
    "stop": CommandName.STOP,
    "privacy": CommandName.PRIVACY,
}


@dataclass
class ProcessorConfig:
    """Processor tuning; tests shorten the intervals."""

    batch: int = 50
    #: Batches fed at once on PostgreSQL, each in its own transaction (their database round trips
    #: overlap); SQLite has one writer, so one.
    parallel: int = 3
    idle_interval: float = 1.0
    lease: timedelta = timedelta(seconds=60)
    retry_delay: timedelta = timedelta(seconds=5)
    max_attempts: int = 5


class InboxProcessor:
    """Feeds stored Telegram updates through the service; answers button presses at once."""

    def __init__(
        self, service: Service, bot: Bot, secret: bytes, *, config: ProcessorConfig | None = None
    ) -> None:
        self.service = service
        self.db = service.db
        self.bot = bot
        self.secret = secret
        self.config = config or ProcessorConfig()
        self.wake = asyncio.Event()
        #: Called after a batch was processed (the sender's wake-up: there may be replies to send).
        self.on_change: Callable[[], None] = lambda: None
        #: Asks for a due-work pass now (``Runtime.due_now``): after /start binds a chat, its
        #: waiting survey goes at once, not at the next tick.
        self.on_due: Callable[[], None] = lambda: None
        #: Told (in a worker thread) when a customer blocks (True) or unblocks (False) the bot.
        self.on_member: Callable[[str, bool], None] = lambda chat, blocked: None
        #: The agents' desk (bot.escalations.telegram_desk.AgentDesk): updates of the agents' chat go there.
        self.desk: Any = None

    # -- loop --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Process until ``stop`` is set; idle passes wait ``idle_interval`` or a ``wake``."""
        while not stop.is_set():
            try:
                handled = await self.process_once()
            except Exception:
                log.exception("inbox_pass_failed")
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
        """Claim one batch (the oldest update of each chat) and process it; return its size.

        Customer messages and button presses are fed in one transaction (``Service.feed_many``);
        the rest (agents' chat, /start, forged buttons, other updates) one by one.
        """
        now = self.service.clock()
        claimed = await asyncio.to_thread(
            inbox.claim, self.db, CHANNEL, now, limit=self.config.batch, lease=self.config.lease
        )
        planned: list[tuple[inbox.ClaimedUpdate, FeedItem]] = []
        single: list[inbox.ClaimedUpdate] = []
        presses: dict[int, _PressOutcome] = {}
        known = (
            await asyncio.to_thread(self._known_chats, {row.chat_key for row in claimed})
            if claimed
            else set()
        )
        for row in claimed:
            if row.chat_key not in known:  # a stranger (or no chat): answered alone, nothing stored
                single.append(row)
                continue
            try:
                item = self._plan(row, now, presses)
            except Exception:  # processed alone below, where its failure is recorded
                item = None
            if item is None:
                single.append(row)
            else:
                planned.append((row, item))
        if planned:
            await self._feed_batch(planned, now, presses)
        for row in single:
            await self._safely(row, self._process(row))
        await asyncio.gather(*(self._answer_press(outcome) for outcome in presses.values()))
        if claimed:
            self.on_change()
        return len(claimed)

    async def _feed_batch(
        self,
        planned: list[tuple[inbox.ClaimedUpdate, FeedItem]],
        now: datetime,
        presses: dict[int, _PressOutcome],
    ) -> None:
        ways = 1 if self.db.is_sqlite else max(1, min(self.config.parallel, len(planned)))
        await asyncio.gather(*(self._feed_part(planned[i::ways], now, presses) for i in range(ways)))

    async def _feed_part(
        self,
        planned: list[tuple[inbox.ClaimedUpdate, FeedItem]],
        now: datetime,
        presses: dict[int, _PressOutcome],
    ) -> None:
        try:
            results = await asyncio.to_thread(self.service.feed_many, [item for _, item in planned], now=now)
        except Exception as exc:  # the whole transaction failed: every row is retried
            log.exception("inbox_batch_failed", size=len(planned))
            results = [exc] * len(planned)
        for (row, _), result in zip(planned, results, strict=True):
            if isinstance(result, Exception):
                presses.pop(row.id, None)  # not fed: its button keeps spinning until the retry
                log.error("inbox_update_failed", inbox_id=row.id, attempts=row.attempts, error=repr(result))
                await asyncio.to_thread(self._give_up_or_retry, row, result)

    async def _safely(self, row: inbox.ClaimedUpdate, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:
            log.exception("inbox_update_failed", inbox_id=row.id, attempts=row.attempts)
            await asyncio.to_thread(self._give_up_or_retry, row, exc)

    def _give_up_or_retry(self, row: inbox.ClaimedUpdate, exc: Exception) -> None:
        now = self.service.clock()
        error = type(exc).__name__
        if row.attempts >= self.config.max_attempts:
            with self.db.write() as session:
                inbox.mark_processed(session, row.id, now, error=f"gave up: {error}")
        else:
            inbox.release(self.db, row.id, error, now + self.config.retry_delay * row.attempts)

    # -- batched updates ----------------------------------------------------------------------

    def _plan(
        self, row: inbox.ClaimedUpdate, now: datetime, presses: dict[int, _PressOutcome]
    ) -> FeedItem | None:
        """Return the feed for a customer's message or genuine button press; None for the rest."""
        if self.desk is not None and self.desk.owns_update(row.payload):
            return None
        update = parse(row.payload)
        if isinstance(update, TextIn):
            parsed = command(update.text)
            if parsed is not None and parsed[0] == "start":
                return None
            inbound: Inbound = CustomerText(text=update.text[:MAX_TEXT])
            if parsed is not None and parsed[0] in _COMMANDS:
                inbound = Command(name=_COMMANDS[parsed[0]], argument=parsed[1][:64])
            resolve = self._resolver(update.chat_id, update.language_code, now)
            return FeedItem(
                resolve, inbound, Address(CHANNEL, str(update.chat_id)), self._then_done(row.id, now)
            )
        if isinstance(update, CallbackIn):
            press = callbacks.verify(self.secret, str(update.chat_id), update.data)
            if press is None:
                return None
            outcome = presses[row.id] = _PressOutcome(update.query_id)
            resolve = self._resolver(update.chat_id, update.language_code, now)
            inbound = ButtonPress(survey_id=press.survey_id, value=press.value)
            return FeedItem(
                resolve,
                inbound,
                Address(CHANNEL, str(update.chat_id)),
                self._then_pressed(row.id, update, press, outcome, now),
            )
        return None

    def _resolver(
        self, chat_id: int, language_code: str | None, now: datetime
    ) -> Callable[[Session], str | repo.IdentityRow]:
        def resolve(session: Session) -> str | repo.IdentityRow:
            identity = repo.find_identity(session, CHANNEL, str(chat_id))
            return identity or self._customer_in(session, chat_id, language_code, now)

        return resolve

    def _then_done(self, row_id: int, now: datetime) -> Callable[[Session, FeedResult], None]:
        return lambda session, _result: inbox.mark_processed(session, row_id, now)

    def _then_pressed(
        self, row_id: int, update: CallbackIn, press: callbacks.Press, outcome: _PressOutcome, now: datetime
    ) -> Callable[[Session, FeedResult], None]:
        def then(session: Session, result: FeedResult) -> None:
            inbox.mark_processed(session, row_id, now)
            # Anything besides a reply (a stored score, a new status, a language) means it counted.
            outcome.accepted = any(not isinstance(action, Send) for action in result.actions)
            outcome.skipped = any(isinstance(action, ReasonSkipped) for action in result.actions)
            outcome.language = result.state.language
            if outcome.accepted and update.message_id is not None:
                _enqueue_edit(session, update.chat_id, update.message_id, press, result.customer_id, now)
            if not outcome.accepted:  # the pop-up says so: no chat message saying it again
                _drop_replies(session, update.chat_id, now)

        return then

    async def _answer_press(self, outcome: _PressOutcome) -> None:
        if outcome.language is None:  # not fed (retried later): the spinner stays until then
            return
        if outcome.skipped:
            answer: str | None = texts.text("skipped", outcome.language)
        else:
            answer = None if outcome.accepted else texts.text("stale_button", outcome.language)
        await self._answer(outcome.query_id, answer)

    # -- one update --------------------------------------------------------------------------

    async def _process(self, row: inbox.ClaimedUpdate) -> None:
        if self.desk is not None and self.desk.owns_update(row.payload):
            # A change (a take, a relayed reply…) marks the update done in its own transaction, so
            # a crash in between cannot relay it twice; anything else is marked afterwards.
            outcome = await self.desk.handle(row.payload, within=self._done(row.id))
            if outcome not in CHANGED:
                await asyncio.to_thread(self._mark, row.id)
            return
        update = read(row.payload)
        if isinstance(update, TextIn | CallbackIn) and not await asyncio.to_thread(
            self._known_chats, {str(update.chat_id)}
        ):
            parsed = command(update.text) if isinstance(update, TextIn) else None
            if parsed is None or parsed[0] != "start" or not parsed[1]:  # a deep link names them
                await self._stranger(row.id, update)
                return
        if isinstance(update, TextIn):
            parsed = command(update.text)
            if parsed is not None and parsed[0] == "start":
                await asyncio.to_thread(self._start, row.id, update)
                self.on_due()
            else:  # a text ``_plan`` could not batch: fed alone
                inbound: Inbound = CustomerText(text=update.text)
                if parsed is not None and parsed[0] in _COMMANDS:
                    inbound = Command(name=_COMMANDS[parsed[0]], argument=parsed[1][:64])
                await asyncio.to_thread(self._feed_one, row.id, update.chat_id, update.language_code, inbound)
        elif isinstance(update, CallbackIn):  # genuine presses are fed in batches (``_plan``)
            await self._bad_press(row.id, update)
        elif isinstance(update, MediaIn):
            await asyncio.to_thread(self._media, row.id, update)
        elif isinstance(update, EditedIn):
            await asyncio.to_thread(self._edited, row, update)
        elif isinstance(update, MemberIn):
            await asyncio.to_thread(self._member, row.id, update)
        elif isinstance(update, Skipped):
            await asyncio.to_thread(self._skip, row, update.reason)
        else:  # not something cxbot acts on: recorded as such
            if update.query_id is not None:
                await self._answer(update.query_id, None)
            await asyncio.to_thread(self._mark, row.id, f"ignored: {update.kind}")

    def _known_chats(self, chats: set[str]) -> set[str]:
        """Return those of ``chats`` that belong to a customer (a channel identity exists)."""
        identities: Any = ChannelIdentity.__table__  # type: ignore[attr-defined]
        with self.db.read() as session:
            rows = session.connection().execute(
                sa_select(identities.c.address).where(
                    identities.c.channel == CHANNEL, identities.c.address.in_(sorted(chats))
                )
            )
            return {str(address) for (address,) in rows}

    async def _stranger(self, row_id: int, update: TextIn | CallbackIn) -> None:
        """A chat no customer owns: answered like anyone (welcome, help, privacy, language) but
        nothing is stored about it (data minimisation) until the shop's own event or a valid
        start link names the customer. The engine is stepped on a fresh state and only its
        replies are kept."""
        now = self.service.clock()
        language = texts.language_of(update.language_code) or self.service.journey.default_language
        inbound: Inbound
        if isinstance(update, CallbackIn):
            press = callbacks.verify(self.secret, str(update.chat_id), update.data)
            if press is None:
                await self._bad_press(row_id, update)
                return
            inbound = ButtonPress(survey_id=press.survey_id, value=press.value)
        else:
            parsed = command(update.text)
            inbound = CustomerText(text=update.text)
            if parsed is not None and parsed[0] == "start":
                inbound = Started(bound=False)
            elif parsed is not None and parsed[0] in _COMMANDS:
                inbound = Command(name=_COMMANDS[parsed[0]], argument=parsed[1][:64])
        _, actions = self.service.engine.step(ConversationState(language=language), inbound, now)
        replies = [action for action in actions if isinstance(action, Send)]
        if isinstance(update, CallbackIn):  # the pop-up closes; the reply goes as a message
            await self._answer(update.query_id, None)

        def write() -> None:
            with self.db.write() as session:
                for reply in replies:
                    repo.enqueue_message(
                        session,
                        channel=CHANNEL,
                        address=str(update.chat_id),
                        payload={
                            "text": reply.text,
                            "rows": _stranger_rows(reply),
                            "survey_id": None,
                            "language": language.value,
                        },
                        now=now,
                    )
                inbox.mark_processed(session, row_id, now, error="stranger: answered, nothing stored")

        await asyncio.to_thread(write)

    def _skip(self, row: inbox.ClaimedUpdate, reason: str) -> None:
        """A broken update: recorded with its reason, logged once, counted; never retried."""
        UPDATES_SKIPPED.labels(reason.split(":", 1)[0].split(".", 1)[0][:40]).inc()
        log.warning("update_skipped", inbox_id=row.id, update_id=row.external_id, reason=reason)
        self._mark(row.id, f"skipped: {reason}")

    def _feed_one(self, row_id: int, chat_id: int, language_code: str | None, inbound: Inbound) -> None:
        now = self.service.clock()
        with self.db.write() as session:
            customer_id = self._customer_in(session, chat_id, language_code, now)
        self.service.feed(customer_id, inbound, via=Address(CHANNEL, str(chat_id)), within=self._done(row_id))

    def _media(self, row_id: int, update: MediaIn) -> None:
        """Media cxbot cannot read: say so politely, then ask the open question again (if any)."""
        now = self.service.clock()
        chat = str(update.chat_id)

        def copy(session: Session, case: Escalation) -> None:
            _enqueue_copy(session, chat, update.message_id, case, case.customer_id, now)

        if attach_to_open_case(
            self.service, Address(CHANNEL, chat), update.media, copy, within=self._done(row_id)
        ):
            log.info("media_attached", media=update.media)  # an open case not yet taken: it joins it
            return
        language = self._language(update.chat_id, update.language_code)
        with self.db.write() as session:
            identity = repo.find_identity(session, CHANNEL, chat)
            customer_id = identity.customer_id if identity else None
            state = self.service.state_of(customer_id) if customer_id else None
            handoff = state.handoff if state is not None else None
            escalation = session.get(Escalation, handoff) if handoff is not None else None
            if escalation is not None and escalation.card_chat_id and self.desk is not None:
                # Handed to an agent: the agent sees the media itself, on the case.
                _enqueue_copy(session, chat, update.message_id, escalation, customer_id, now)
                inbox.mark_processed(session, row_id, now, error=f"media relayed: {update.media}")
                log.info("media_relayed", media=update.media, escalation_id=escalation.id)
                return
            repo.enqueue_message(
                session,
                channel=CHANNEL,
                address=chat,
                payload={"text": texts.text("media", language), "rows": [], "language": language.value},
                now=now,
                customer_id=customer_id,
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
            inbox.mark_processed(session, row_id, now, error=f"media: {update.media}")
        log.info("media_answered", media=update.media)

    def _edited(self, row: inbox.ClaimedUpdate, update: EditedIn) -> None:
        """An edited message answers the open question when it was written while that question
        was open and nothing has answered it since (still waiting for a score); else ignored."""
        with self.db.read() as session:
            identity = repo.find_identity(session, CHANNEL, str(update.chat_id))
        state = self.service.state_of(identity.customer_id) if identity else None
        active = state.active if state is not None else None
        written = _message_date(row.payload.get("edited_message"))
        if (
            identity is None
            or active is None
            or active.phase != Phase.SCORE
            or written is None
            or written < active.asked_at - timedelta(seconds=1)  # Telegram's dates are in whole seconds
        ):
            self._mark(row.id, "ignored: edited_message (no open question)")
            return
        self.service.feed(
            identity.customer_id,
            CustomerText(text=update.text),
            via=Address(CHANNEL, str(update.chat_id)),
            within=self._done(row.id),
        )

    def _member(self, row_id: int, update: MemberIn) -> None:
        """The customer blocked the bot (no more sends) or started it again: the surveys that
        waited for a reachable chat meanwhile become due again."""
        now = self.service.clock()
        chat = str(update.chat_id)
        with self.db.write() as session:
            known = repo.set_identity_blocked(session, CHANNEL, chat, now if update.blocked else None)
            identity = repo.find_identity(session, CHANNEL, chat) if known else None
            if identity is not None and not update.blocked:
                repo.release_waiting_work(session, identity.customer_id, now)
            inbox.mark_processed(session, row_id, now, error=None)
        log.info("chat_blocked_by_user" if update.blocked else "chat_unblocked_by_user", known=known)
        if known:
            self.on_member(chat, update.blocked)

    def _mark(self, row_id: int, error: str | None = None) -> None:
        with self.db.write() as session:
            inbox.mark_processed(session, row_id, self.service.clock(), error=error)

    def _done(self, row_id: int) -> Callable[[Session], None]:
        now = self.service.clock()
        return lambda session: inbox.mark_processed(session, row_id, now)

    def _customer_in(self, session: Session, chat_id: int, language_code: str | None, now: datetime) -> str:
        """Return the customer this chat belongs to, creating ``tg-<chat_id>`` for a stranger."""
        identity = repo.find_identity(session, CHANNEL, str(chat_id))
        if identity is not None:
            return identity.customer_id
        customer_id = f"tg-{chat_id}"
        language = texts.language_of(language_code) or self.service.journey.default_language
        repo.customer_view(session, customer_id, now, language=language.value)
        return customer_id

    def _customer_for(self, chat_id: int, language_code: str | None) -> str:
        with self.db.write() as session:
            return self._customer_in(session, chat_id, language_code, self.service.clock())

    def _language(self, chat_id: int, language_code: str | None) -> Lang:
        with self.db.read() as session:
            identity = repo.find_identity(session, CHANNEL, str(chat_id))
            customer = session.get(Customer, identity.customer_id) if identity else None
            if customer is not None:
                return Lang(customer.language)
        return texts.language_of(language_code) or self.service.journey.default_language

    def _start(self, row_id: int, update: TextIn) -> None:
        """/start: from a deep link, bind the chat; otherwise greet (a known or a new customer)."""
        parsed = command(update.text)
        if parsed is not None and parsed[1]:
            self._start_with_token(row_id, update, parsed[1])
            return
        customer_id = self._customer_for(update.chat_id, update.language_code)
        inbound = Started(bound=not customer_id.startswith("tg-"))
        self.service.feed(
            customer_id, inbound, via=Address(CHANNEL, str(update.chat_id)), within=self._done(row_id)
        )

    def _start_with_token(self, row_id: int, update: TextIn, token: str) -> None:
        """Bind the chat to the token's customer and release the surveys waiting for a channel."""
        chat = str(update.chat_id)
        now = self.service.clock()
        with self.db.read() as session:
            customer_id = _peek_token(session, token, chat, now)
            linked = repo.find_identity(session, CHANNEL, chat)
        if customer_id is None:
            self._bad_link(row_id, update)
            return
        if (
            linked is not None
            and linked.customer_id != customer_id
            and not linked.customer_id.startswith("tg-")
        ):
            # Another customer's link in a chat already theirs: never a silent move (the first
            # customer would lose their chat). Refused politely; the token stays unused.
            self._bad_link(
                row_id, update, key="linked_elsewhere", error="refused: chat linked to another customer"
            )
            log.warning("start_token_of_another_customer", linked=linked.customer_id, token_for=customer_id)
            return

        due = due_at_start(self.service, customer_id, now)  # asked with the welcome, one message

        def bind(session: Session) -> None:
            if links.redeem_token(session, token, chat, now) != customer_id:
                raise ConflictError("start token changed while binding")  # rolls the feed back; retried
            repo.release_waiting_work(session, customer_id, now)
            if due is not None:
                repo.finish_work(session, due[0], now)
            inbox.mark_processed(session, row_id, now)

        started = Started(bound=True, due=due[1] if due else None)
        self.service.feed(customer_id, started, via=Address(CHANNEL, chat), now=now, within=bind)
        log.info("chat_bound", customer_id=customer_id)

    def _bad_link(
        self, row_id: int, update: TextIn, *, key: str = "bad_link", error: str = "bad start token"
    ) -> None:
        now = self.service.clock()
        language = self._language(update.chat_id, update.language_code)
        with self.db.write() as session:
            identity = repo.find_identity(session, CHANNEL, str(update.chat_id))
            repo.enqueue_message(
                session,
                channel=CHANNEL,
                address=str(update.chat_id),
                payload={"text": texts.text(key, language), "rows": [], "language": language.value},
                now=now,
                customer_id=identity.customer_id if identity else None,
            )
            inbox.mark_processed(session, row_id, now, error=error)
        if key == "bad_link":
            log.info("bad_start_token")

    async def _bad_press(self, row_id: int, update: CallbackIn) -> None:
        """A button press whose signature does not hold (forged, or for another chat): refuse it."""
        language = await asyncio.to_thread(self._language, update.chat_id, update.language_code)
        await self._answer(update.query_id, texts.text("bad_button", language))
        await asyncio.to_thread(self._mark, row_id, "forged or malformed callback")
        log.info("bad_callback")

    async def _answer(self, query_id: str, text: str | None) -> None:
        try:
            await call(self.bot.answer_callback_query(query_id, text=text), "answerCallbackQuery")
        except ChannelError as exc:  # a late answer only leaves a spinner; never worth a retry
            log.info("callback_answer_failed", error=str(exc))


@dataclass
class _PressOutcome:
    """What a batched button press did, for answering its callback query after the commit."""

    query_id: str
    accepted: bool = False
    skipped: bool = False  # the press skipped a question: acknowledged as a skip
    language: Lang | None = None


def _enqueue_edit(
    session: Session, chat_id: int, message_id: int, press: callbacks.Press, customer_id: str, now: datetime
) -> None:
    """Show the chosen value on the question and remove its buttons (through the outbox)."""
    question = _sent_question(session, str(chat_id), message_id)
    text: str | None = None
    if question is not None:
        label = _label(question.payload, press.value)
        original = str(question.payload.get("text") or "")
        mark = "⏭️" if press.value == "skip" else "✅"
        text = f"{original}\n\n{mark} {label}"[:MAX_TEXT] if label else None
    repo.enqueue_message(
        session,
        channel=CHANNEL,
        address=str(chat_id),
        payload={"message_id": message_id, "text": text},
        now=now,
        customer_id=customer_id,
        kind="edit",
        dedupe_key=f"tg-edit:{chat_id}:{message_id}",
    )


def _stranger_rows(reply: Send) -> list[list[dict[str, str]]]:
    """The reply's buttons minus "talk to a person": no case can be opened for a chat no
    customer owns (the shop has not named them), so the button would promise what cannot happen."""
    rows = [[{"label": c.label, "value": c.value} for c in row if c.value != HUMAN] for row in reply.rows]
    return [row for row in rows if row]


def _enqueue_copy(
    session: Session,
    chat: str,
    message_id: int,
    escalation: Escalation,
    customer_id: str | None,
    now: datetime,
) -> None:
    """Queue a ``copyMessage`` of the customer's message to the agents' chat, on the case's card."""
    repo.enqueue_message(
        session,
        channel=CHANNEL,
        address=str(escalation.card_chat_id),
        payload={
            "from_chat_id": int(chat),
            "message_id": message_id,
            "reply_to": escalation.card_message_id,
            "thread_id": escalation.thread_id,
            "escalation_id": escalation.id,
        },
        now=now,
        customer_id=customer_id,
        kind="copy",
        dedupe_key=f"tg-copy:{chat}:{message_id}",
    )


def _drop_replies(session: Session, chat_id: int, now: datetime) -> None:
    """Delete the replies this feed just queued for the chat (rows queued at ``now``, unsent)."""
    outbox: Any = OutboxMessage.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        delete(outbox).where(
            outbox.c.channel == CHANNEL,
            outbox.c.address == str(chat_id),
            outbox.c.status == "pending",
            outbox.c.kind == "message",
            outbox.c.created_at == now,
        )
    )


def _peek_token(session: Session, token: str, chat: str, now: datetime) -> str | None:
    """Return the customer a token would bind, without consuming it (see ``links.redeem_token``).

    Runs in a read session, which is never committed: the redemption is only tried.
    """
    return links.redeem_token(session, token, chat, now)


def _sent_question(session: Session, address: str, message_id: int) -> OutboxMessage | None:
    """Return the sent outbox row that became Telegram message ``message_id`` in this chat."""
    rows = session.exec(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == CHANNEL,
            col(OutboxMessage.address) == address,
            col(OutboxMessage.kind) == "message",
            col(OutboxMessage.status) == "sent",
        )
        .order_by(col(OutboxMessage.id).desc())
        .limit(50)
    )
    return next((row for row in rows if row.payload.get("message_id") == message_id), None)


def _label(payload: dict[str, Any], value: str) -> str | None:
    for row in payload.get("rows") or []:
        for choice in row:
            if choice.get("value") == value:
                return str(choice.get("label"))
    return None


def _last_question(session: Session, address: str, survey_id: int) -> dict[str, Any] | None:
    """Return the payload of the last message sent in this chat for ``survey_id`` (to ask it again)."""
    rows = session.exec(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == CHANNEL,
            col(OutboxMessage.address) == address,
            col(OutboxMessage.kind) == "message",
            col(OutboxMessage.status) == "sent",
        )
        .order_by(col(OutboxMessage.id).desc())
        .limit(20)
    )
    for row in rows:
        if row.payload.get("survey_id") == survey_id:
            return {k: v for k, v in row.payload.items() if k not in ("message_id", PROGRESS)}
    return None


def _message_date(message: Any) -> datetime | None:
    """The UTC send time of a raw Telegram message (its ``date``), or None."""
    date = message.get("date") if isinstance(message, dict) else None
    if not isinstance(date, int) or isinstance(date, bool):
        return None
    return datetime.fromtimestamp(date, tz=UTC)
