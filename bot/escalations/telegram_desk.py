"""The agents' Telegram group's desk: button presses and replies in, cards and relays out.

The agents' group is a channel of its own (``bot.channels.telegram.agents`` reads its updates
into envelopes of ``AgentPress``/``AgentMessage``): its processor hands each envelope to
``handle_agent_event``, and its sender hands the ``AGENTS_CHANNEL`` outbox rows (``agent_card``,
``agent_message``, ``copy``) to ``deliver_agent_message``. Both take ``call``: an async function
performing one Bot API method on the channel's own client (``bot.channels.telegram.api.bot_call``),
its failures named like every other Bot API call. An agent's reply reaches the customer in the bot's voice;
media an agent replies with is copied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from bot.engine.wiring import App
from bot.escalations import audit, desk, hooks
from bot.escalations.card import label, parse_callback
from bot.escalations.records import CARD_KIND, COPY_KIND, TELEGRAM, DeskConfig
from flows.conversation.envelope import Envelope
from flows.errors import ChannelError, ConflictError, CxbotError, InputError, NotFoundError
from storage import escalations as escalation_store
from storage import repo
from storage.claims import ClaimedMessage
from storage.db import Session
from storage.tables import Customer, Escalation

if TYPE_CHECKING:
    from bot.delivery.limited_calls import BotCall

log = structlog.get_logger(__name__)

_MEMBER = {"creator", "administrator", "member"}


async def is_agent(config: DeskConfig, call: BotCall, user_id: int) -> bool:
    """Return True when ``user_id`` may act as an agent.

    ``CXBOT_AGENT_IDS``, when set, is a strict allow-list: nobody else, not even the group's
    administrators. Only when it is unset does membership of the agents' chat count
    (``getChatMember``); ``cxbot config`` warns about that fallback.
    """
    if config.agent_ids:
        return user_id in config.agent_ids
    if config.agents_chat_id is None:
        return False
    try:
        member = await call("getChatMember", {"chat_id": config.agents_chat_id, "user_id": user_id})
    except ChannelError:
        return False
    status = member.get("status") if isinstance(member, dict) else None
    return status in _MEMBER or (status == "restricted" and bool(member.get("is_member")))


@dataclass(frozen=True)
class Agent:
    """Who acted in the agents' group (anyone there, until ``is_agent`` says otherwise)."""

    id: int
    username: str | None = None
    first_name: str | None = None


@dataclass(frozen=True)
class AgentPress:
    """Someone pressed a card's button (take, resolve, hand back): its signed data."""

    data: str | None
    user: Agent


@dataclass(frozen=True)
class AgentMessage:
    """Someone wrote in the agents' group: words, or media (a photo, a document, a voice note…),
    perhaps replying to a card (``reply_to``) or in a case's forum topic (``thread_id``)."""

    text: str | None
    media: str | None
    user: Agent
    reply_to: int | None = None
    thread_id: int | None = None


def _agent_name(user: Agent) -> str:
    # The user id always: a username can be changed or reused, the audit must name the person.
    shown = f"@{user.username}" if user.username else (user.first_name or "agent")
    return f"{shown} ({user.id})"


async def handle_agent_event(
    app: App,
    envelope: Envelope[object],
    *,
    call: BotCall,
    config: DeskConfig,
    now: datetime | None = None,
    within: desk.Also = None,
) -> str:
    """Handle one envelope of the agents' channel; return what happened (for logs and tests).

    ``within`` runs in the transaction of an action that changes an escalation (the outcomes in
    ``CHANGED``), so the caller can mark the update done exactly when its effect is stored.

    Outcomes: ``taken``/``resolved``/``handed_back``/``replied``, ``refused`` (not an agent),
    ``conflict`` (e.g. taken by someone else), ``invalid`` (forged button), ``ignored``.
    """
    now = now or app.service.clock()
    event = envelope.inbound
    if isinstance(event, AgentPress):
        return await _on_press(app, config, call, envelope, event, now, within)
    if isinstance(event, AgentMessage):
        return await _on_message(app, config, call, envelope, event, now, within)
    return "ignored"


_OPS = {"take": desk.take, "resolve": desk.resolve, "hand_back": desk.hand_back}
_DONE = {"take": "taken", "resolve": "resolved", "hand_back": "handed_back"}
#: Outcomes whose change (and ``within``) was committed.
CHANGED = frozenset({*_DONE.values(), "replied"})


async def _on_press(
    app: App,
    config: DeskConfig,
    call: BotCall,
    envelope: Envelope[object],
    event: AgentPress,
    now: datetime,
    within: desk.Also,
) -> str:
    query_id = envelope.press_id or ""
    press = parse_callback(config.secret, event.data or "")
    if press is None:
        return "ignored"
    user = event.user
    if not await is_agent(config, call, user.id):
        await asyncio.to_thread(audit.record_refusal, app.db, press.escalation_id, _agent_name(user), now)
        await _answer(call, query_id, label("not_agent", config.lang), alert=True)
        return "refused"
    try:
        op = _OPS[press.op]
        await asyncio.to_thread(
            lambda: op(app, config, press.escalation_id, _agent_name(user), now, within=within)
        )
    except ConflictError:
        await _answer(call, query_id, _conflict_text(app, config, press.escalation_id), alert=True)
        return "conflict"
    except CxbotError as exc:
        await _answer(call, query_id, str(exc)[:190], alert=True)
        return "invalid"
    await _answer(call, query_id, "✓")
    return _DONE[press.op]


def _conflict_text(app: App, config: DeskConfig, escalation_id: int) -> str:
    """Return why a press could not be done, in the desk language (from the case as it is now)."""
    with app.db.read() as session:
        row = escalation_store.get(session, escalation_id)
    ident = str(escalation_id)
    if row is not None and row.status == "resolved":
        return label("conflict_resolved", config.lang, id=ident)
    if row is not None and row.status == "taken":
        return label("conflict_taken", config.lang, id=ident, who=row.taken_by or "?")
    return label("conflict_not_taken", config.lang, id=ident)


async def _answer(call: BotCall, query_id: str, text: str, *, alert: bool = False) -> None:
    try:
        await call("answerCallbackQuery", {"callback_query_id": query_id, "text": text, "show_alert": alert})
    except ChannelError:
        log.warning("answer_callback_failed")  # the press itself is handled; the spinner just times out


async def _on_message(
    app: App,
    config: DeskConfig,
    call: BotCall,
    envelope: Envelope[object],
    event: AgentMessage,
    now: datetime,
    within: desk.Also,
) -> str:
    """An agent's reply to a card (or in a case's topic): its words, or its media copied, reach
    the customer; anything else said in the group is chatter among agents."""
    with app.db.read() as session:
        escalation = desk.find_by_message(session, envelope.address, event.reply_to, event.thread_id)
        escalation_id = escalation.id if escalation else None
    if escalation_id is None:
        return "ignored"  # ordinary chatter among agents
    if not await is_agent(config, call, event.user.id):
        await asyncio.to_thread(audit.record_refusal, app.db, escalation_id, _agent_name(event.user), now)
        return "refused"
    agent = _agent_name(event.user)
    try:
        if event.media is not None:
            copy = _copy_to_customer(config, escalation_id, int(envelope.address), envelope.message_id, now)
            await asyncio.to_thread(
                lambda: desk.relay_agent_media(
                    app, config, escalation_id, agent, now, within=_both(copy, within)
                )
            )
            log.info("agent_media_relayed", media=event.media, escalation_id=escalation_id)
        else:
            text = event.text or ""
            await asyncio.to_thread(
                lambda: desk.relay_agent_reply(app, config, escalation_id, agent, text, now, within=within)
            )
    except ConflictError:
        await _notice(call, config, envelope, event, _conflict_text(app, config, escalation_id))
        return "conflict"
    except InputError:
        reply_too_long = label("reply_too_long", config.lang, limit=str(desk.MAX_REPLY))
        await _notice(call, config, envelope, event, reply_too_long)
        return "invalid"
    except CxbotError as exc:
        await _notice(call, config, envelope, event, str(exc)[:300])
        return "invalid"
    return "replied"


def _copy_to_customer(
    config: DeskConfig, escalation_id: int, chat: int, message_id: int | None, now: datetime
) -> Callable[[Session], None]:
    """Return the write queuing a copy of the agent's message (``copyMessage``) to the customer's
    Telegram chat, in the desk action's transaction.

    Raises (when run):
        NotFoundError: the customer has no Telegram chat to copy to (in the desk language).
    """

    def copy(session: Session) -> None:
        escalation = escalation_store.get(session, escalation_id)
        customer_id = escalation.customer_id if escalation is not None else None
        identity = repo.reachable_identity(session, customer_id) if customer_id else None
        if identity is None or identity.channel != TELEGRAM or message_id is None:
            raise NotFoundError(label("media_unreachable", config.lang))
        repo.enqueue_message(
            session,
            channel=TELEGRAM,
            address=identity.address,
            payload={"from_chat_id": chat, "message_id": message_id, "escalation_id": escalation_id},
            now=now,
            customer_id=customer_id,
            kind=COPY_KIND,
            dedupe_key=f"tg-copy:{chat}:{message_id}",
        )

    return copy


def _both(first: Callable[[Session], None], then: desk.Also) -> Callable[[Session], None]:
    def both(session: Session) -> None:
        first(session)
        if then is not None:
            then(session)

    return both


async def _notice(
    call: BotCall, config: DeskConfig, envelope: Envelope[object], event: AgentMessage, text: str
) -> None:
    params: dict[str, Any] = {
        "chat_id": config.agents_chat_id,
        "text": text,
        "reply_parameters": {"message_id": envelope.message_id, "allow_sending_without_reply": True},
    }
    if event.thread_id is not None:
        params["message_thread_id"] = event.thread_id
    try:
        await call("sendMessage", params)
    except ChannelError:
        log.warning("desk_notice_failed")


# -- outgoing ----------------------------------------------------------------------------


def _load(app: App, escalation_id: int) -> tuple[Escalation | None, Customer | None]:
    with app.db.read() as session:
        escalation = escalation_store.get(session, escalation_id)
        customer = escalation_store.customer_of_case(session, escalation) if escalation else None
        return escalation, customer


def _remember_topic(app: App, escalation_id: int, thread_id: int) -> None:
    with app.db.write() as session:
        escalation_store.place_topic(session, escalation_id, thread_id)


def _remember_card(app: App, escalation_id: int, chat_id: str, message_id: int) -> None:
    with app.db.write() as session:
        escalation_store.place_card(session, escalation_id, chat_id, message_id)


def _markup(rows: Any) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": b["label"], "callback_data": b["callback_data"]} for b in row] for row in rows
        ]
    }


async def deliver_agent_message(
    app: App, config: DeskConfig, call: BotCall, message: ClaimedMessage
) -> dict[str, Any]:
    """Deliver an ``agent_card`` (send, or edit the posted card), an ``agent_message`` or a
    ``copy`` (a customer's media, onto the case) outbox row; return its payload updates.

    In a forum group the escalation's topic is created before its first card.

    Raises:
        ChatBlocked, RetryAfter, Permanent, Transient: when Telegram refuses or fails (the sender
            decides what follows).
    """
    payload = message.payload
    escalation_id = int(str(payload.get("escalation_id")))
    escalation, customer = await asyncio.to_thread(_load, app, escalation_id)
    if escalation is None:
        return {}
    chat_id: Any = int(message.address) if message.address.lstrip("-").isdigit() else message.address
    if message.kind == COPY_KIND:
        return await _copy_onto_case(call, chat_id, payload, escalation)
    text = str(payload.get("text", ""))
    params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}
    if message.kind == CARD_KIND:
        params["reply_markup"] = _markup(payload.get("rows", []))
        if escalation.card_message_id is not None:
            params["message_id"] = escalation.card_message_id
            try:
                await call("editMessageText", params)
            except ChannelError as exc:
                if "not modified" not in str(exc):
                    raise
            return {}
        thread_id = escalation.thread_id
        if config.forum and thread_id is None:
            who = (customer.name if customer and customer.name else escalation.customer_id) or "?"
            topic = await call(
                "createForumTopic",
                {"chat_id": chat_id, "name": f"#{escalation_id} {escalation.priority.upper()} {who}"[:128]},
            )
            thread_id = int(topic["message_thread_id"])
            await asyncio.to_thread(_remember_topic, app, escalation_id, thread_id)
        if thread_id is not None:
            params["message_thread_id"] = thread_id
        sent = await call("sendMessage", params)
        await asyncio.to_thread(_remember_card, app, escalation_id, str(chat_id), int(sent["message_id"]))
        return {}
    if escalation.thread_id is not None:
        params["message_thread_id"] = escalation.thread_id
    if escalation.card_message_id is not None:
        params["reply_parameters"] = {
            "message_id": escalation.card_message_id,
            "allow_sending_without_reply": True,
        }
    await call("sendMessage", params)
    return {}


async def _copy_onto_case(
    call: BotCall, chat_id: Any, payload: dict[str, Any], escalation: Escalation
) -> dict[str, Any]:
    """Copy a customer's message (``copyMessage``) into the agents' chat, replying to the card."""
    params: dict[str, Any] = {
        "chat_id": chat_id,
        "from_chat_id": payload.get("from_chat_id"),
        "message_id": payload.get("message_id"),
    }
    if escalation.thread_id is not None:
        params["message_thread_id"] = escalation.thread_id
    card = escalation.card_message_id or payload.get("reply_to")
    if card is not None:
        params["reply_parameters"] = {"message_id": card, "allow_sending_without_reply": True}
    copied = await call("copyMessage", params)
    return {"copied_id": copied.get("message_id") if isinstance(copied, dict) else None}


class AgentDesk:
    """The agents' group's desk: handles its channel's envelopes, and is its channel's transport
    (cards, notes and customers' media copied onto cases, from the ``AGENTS_CHANNEL`` outbox),
    both through ``call`` (the channel's Bot API client).

    Creating it installs the card hook on the app's service.

    Raises:
        ConfigError: with an unknown company timezone.
    """

    def __init__(self, app: App, call: BotCall) -> None:
        self.app = app
        self.config = hooks.install(app)
        self.call = call

    async def handle(self, envelope: Envelope[object], *, within: desk.Also = None) -> str:
        """Handle an envelope of the agents' channel; return the outcome (see ``handle_agent_event``)."""
        return await handle_agent_event(self.app, envelope, call=self.call, config=self.config, within=within)

    async def deliver(self, message: ClaimedMessage) -> dict[str, Any]:
        """Deliver an agents' outbox row; return its payload updates."""
        return await deliver_agent_message(self.app, self.config, self.call, message)
