"""The agents' Telegram group: button presses and replies in, cards and relays out.

The Telegram adapter calls ``handle_agent_update`` for every update from the agents' chat and
hands outbox messages of kinds ``agent_card`` / ``agent_message`` to ``deliver_agent_message``.
Both take ``call``: an async function performing one Bot API method on the channel's own client
(``bot.channels.telegram.api.bot_call``), its failures named like every other Bot API call.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from bot.escalations import audit, desk, hooks
from bot.escalations.card import label, parse_callback
from bot.escalations.records import CARD_KIND, NOTE_KIND, DeskConfig
from bot.security.hygiene import strip_control
from bot.wiring import App
from flows.errors import ChannelError, ConflictError, CxbotError, InputError
from storage.claims import ClaimedMessage
from storage.tables import Customer, Escalation

if TYPE_CHECKING:
    from bot.limited_calls import BotCall

log = structlog.get_logger(__name__)

AGENT_KINDS = frozenset({CARD_KIND, NOTE_KIND})
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


def _agent_name(user: dict[str, Any]) -> str:
    # The user id always: a username can be changed or reused, the audit must name the person.
    username = user.get("username")
    shown = f"@{str(username)[:60]}" if username else str(user.get("first_name") or "agent")[:60]
    return f"{shown} ({int(user.get('id', 0))})"


async def handle_agent_update(
    app: App,
    update: dict[str, Any],
    *,
    call: BotCall,
    config: DeskConfig | None = None,
    now: datetime | None = None,
    within: desk.Also = None,
) -> str:
    """Handle one update from the agents' chat; return what happened (for logs and tests).

    ``within`` runs in the transaction of an action that changes an escalation (the outcomes in
    ``CHANGED``), so the caller can mark the update done exactly when its effect is stored.

    Outcomes: ``taken``/``resolved``/``handed_back``/``replied``, ``refused`` (not an agent),
    ``conflict`` (e.g. taken by someone else), ``invalid`` (forged button), ``ignored``.
    """
    config = config or DeskConfig.from_settings(app.settings, app.journey)
    now = now or app.service.clock()
    if config.agents_chat_id is None:
        return "ignored"
    if "callback_query" in update:
        return await _on_press(app, config, call, update["callback_query"], now, within)
    message = update.get("message")
    if isinstance(message, dict):
        return await _on_message(app, config, call, message, now, within)
    return "ignored"


_OPS = {"take": desk.take, "resolve": desk.resolve, "hand_back": desk.hand_back}
_DONE = {"take": "taken", "resolve": "resolved", "hand_back": "handed_back"}
#: Outcomes whose change (and ``within``) was committed.
CHANGED = frozenset({*_DONE.values(), "replied"})


async def _on_press(
    app: App, config: DeskConfig, call: BotCall, query: dict[str, Any], now: datetime, within: desk.Also
) -> str:
    query_id = str(query.get("id", ""))
    chat_id = ((query.get("message") or {}).get("chat") or {}).get("id")
    press = parse_callback(config.secret, str(query.get("data") or ""))
    if press is None or chat_id != config.agents_chat_id:
        return "ignored"
    user = query.get("from") or {}
    if not await is_agent(config, call, int(user.get("id", 0))):
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
        row = session.get(Escalation, escalation_id)
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
    app: App, config: DeskConfig, call: BotCall, message: dict[str, Any], now: datetime, within: desk.Also
) -> str:
    chat_id = (message.get("chat") or {}).get("id")
    text = message.get("text")
    user = message.get("from") or {}
    if (
        chat_id != config.agents_chat_id
        or not isinstance(text, str)
        or text.startswith("/")
        or user.get("is_bot")
    ):
        return "ignored"
    replied = (message.get("reply_to_message") or {}).get("message_id")
    thread = message.get("message_thread_id") if message.get("is_topic_message") else None
    with app.db.read() as session:
        escalation = desk.find_by_message(session, str(chat_id), replied, thread)
        escalation_id = escalation.id if escalation else None
    if escalation_id is None:
        return "ignored"  # ordinary chatter among agents
    if not await is_agent(config, call, int(user.get("id", 0))):
        await asyncio.to_thread(audit.record_refusal, app.db, escalation_id, _agent_name(user), now)
        return "refused"
    try:
        agent = _agent_name(user)
        clean = strip_control(text)  # NUL cannot be stored by PostgreSQL; the words are kept
        await asyncio.to_thread(
            lambda: desk.relay_agent_reply(app, config, escalation_id, agent, clean, now, within=within)
        )
    except ConflictError:
        await _notice(call, config, message, _conflict_text(app, config, escalation_id))
        return "conflict"
    except InputError:
        await _notice(call, config, message, label("reply_too_long", config.lang, limit=str(desk.MAX_REPLY)))
        return "invalid"
    except CxbotError as exc:
        await _notice(call, config, message, str(exc)[:300])
        return "invalid"
    return "replied"


async def _notice(call: BotCall, config: DeskConfig, message: dict[str, Any], text: str) -> None:
    params: dict[str, Any] = {
        "chat_id": config.agents_chat_id,
        "text": text,
        "reply_parameters": {"message_id": message.get("message_id"), "allow_sending_without_reply": True},
    }
    if message.get("is_topic_message"):
        params["message_thread_id"] = message.get("message_thread_id")
    try:
        await call("sendMessage", params)
    except ChannelError:
        log.warning("desk_notice_failed")


# -- outgoing ----------------------------------------------------------------------------


def _load(app: App, escalation_id: int) -> tuple[Escalation | None, Customer | None]:
    with app.db.read() as session:
        escalation = session.get(Escalation, escalation_id)
        customer = (
            session.get(Customer, escalation.customer_id) if escalation and escalation.customer_id else None
        )
        return escalation, customer


def _remember(app: App, escalation_id: int, **values: Any) -> None:
    with app.db.write() as session:
        row = session.get(Escalation, escalation_id)
        if row is not None:
            for key, value in values.items():
                setattr(row, key, value)
            session.add(row)


def _markup(rows: Any) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": b["label"], "callback_data": b["callback_data"]} for b in row] for row in rows
        ]
    }


async def deliver_agent_message(app: App, config: DeskConfig, call: BotCall, message: ClaimedMessage) -> None:
    """Deliver an ``agent_card`` (send, or edit the posted card) or ``agent_message`` outbox row.

    In a forum group the escalation's topic is created before its first card.

    Raises:
        ChatBlocked, RetryAfter, Permanent, Transient: when Telegram refuses or fails (the sender
            decides what follows).
    """
    payload = message.payload
    escalation_id = int(str(payload.get("escalation_id")))
    escalation, customer = await asyncio.to_thread(_load, app, escalation_id)
    if escalation is None:
        return
    chat_id: Any = int(message.address) if message.address.lstrip("-").isdigit() else message.address
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
            return
        thread_id = escalation.thread_id
        if config.forum and thread_id is None:
            who = (customer.name if customer and customer.name else escalation.customer_id) or "?"
            topic = await call(
                "createForumTopic",
                {"chat_id": chat_id, "name": f"#{escalation_id} {escalation.priority.upper()} {who}"[:128]},
            )
            thread_id = int(topic["message_thread_id"])
            await asyncio.to_thread(_remember, app, escalation_id, thread_id=thread_id)
        if thread_id is not None:
            params["message_thread_id"] = thread_id
        sent = await call("sendMessage", params)
        await asyncio.to_thread(
            _remember, app, escalation_id, card_message_id=int(sent["message_id"]), card_chat_id=str(chat_id)
        )
        return
    if escalation.thread_id is not None:
        params["message_thread_id"] = escalation.thread_id
    if escalation.card_message_id is not None:
        params["reply_parameters"] = {
            "message_id": escalation.card_message_id,
            "allow_sending_without_reply": True,
        }
    await call("sendMessage", params)


class AgentDesk:
    """The bridge the Telegram adapter uses: agents' updates in, agents' outbox rows out, both
    through ``call`` (the channel's Bot API client).

    Creating it installs the card hook on the app's service.

    Raises:
        ConfigError: with an unknown company timezone.
    """

    def __init__(self, app: App, call: BotCall) -> None:
        self.app = app
        self.config = hooks.install(app)
        self.call = call

    def owns_update(self, raw: dict[str, Any]) -> bool:
        """Return True for an update from the agents' chat (a message or a button press)."""
        if self.config.agents_chat_id is None:
            return False
        message = raw.get("message")
        query = raw.get("callback_query")
        if isinstance(query, dict):
            message = query.get("message")
        chat = message.get("chat") if isinstance(message, dict) else None
        return isinstance(chat, dict) and chat.get("id") == self.config.agents_chat_id

    async def handle(self, raw: dict[str, Any], *, within: desk.Also = None) -> str:
        """Handle an update from the agents' chat; return the outcome (see ``handle_agent_update``)."""
        return await handle_agent_update(self.app, raw, call=self.call, config=self.config, within=within)

    def owns_message(self, message: ClaimedMessage) -> bool:
        """Return True for an outbox row for the agents (card or note)."""
        return message.kind in AGENT_KINDS

    async def deliver(self, message: ClaimedMessage) -> dict[str, Any]:
        """Deliver an agents' outbox row; return no payload updates."""
        await deliver_agent_message(self.app, self.config, self.call, message)
        return {}
