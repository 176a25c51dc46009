"""python-telegram-bot (v22) integration: give a shop's existing PTB bot cxbot's survey.

``add_cxbot_handlers(application, app)`` adds handlers in their own group (default -1, before the
shop's): /start with a deep-link token, /help /aiuto, /language /lingua, /stop, cxbot's inline
buttons, and text replies while a survey question is open. Whatever cxbot handles stops there
(``ApplicationHandlerStop``); everything else (a plain /start of an unknown chat, chat outside a
survey) goes on to the shop's own handlers. Every update cxbot handles is read into an
``Envelope`` and fed like the aiogram channel's (``Service.feed_many``: the customer found by the
chat or a deep link's token, the chat bound, surveys that waited for it released); the
replies are written to the outbox (channel "telegram") and delivered by ``deliver_outbox`` (the
one outbox sender, with PTB's bot as transport), right after the update and periodically
(proactive surveys) when the application has a JobQueue.

Buttons carry signed callback data (``v1.<survey>.<value>.<mac>``, the same format and key as
cxbot's own Telegram channel), so a forged or replayed press is ignored.
"""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta
from typing import Any

import structlog
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.channels import bot_api, callbacks
from bot.delivery.sender import Sender
from bot.engine.service import FeedResult, Received, StartRefused
from bot.engine.timers import run_due_work
from bot.engine.wiring import App
from bot.escalations import hooks
from flows.conversation import ButtonPress, Command, CommandName, CustomerText, Inbound, Started
from flows.conversation.envelope import Envelope
from flows.conversation.state import Phase
from flows.errors import ChannelError, Permanent
from flows.scales import Lang
from storage import repo
from storage.claims import ClaimedMessage

log = structlog.get_logger(__name__)

CHANNEL = "telegram"
MAX_TEXT = 4096


# -- signed callback data ---------------------------------------------------------------------


def button_secret(app: App, bot_token: str) -> bytes:
    """Return the key signing buttons, the same as the aiogram channel's (one format, one key)."""
    link = app.settings.link_secret.get_secret_value() if app.settings.link_secret else None
    return callbacks.derive_secret(link, bot_token)


sign = callbacks.sign


def verify(secret: bytes, chat_id: str, data: str | None) -> ButtonPress | None:
    """Return the press in ``data`` for ``chat_id``, or None when malformed or forged."""
    press = callbacks.verify(secret, chat_id, data)
    return None if press is None else ButtonPress(survey_id=press.survey_id, value=press.value)


def keyboard(secret: bytes, chat_id: str, payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """Return the payload's answer choices as an inline keyboard, or None when there are none."""
    rows = payload.get("rows") or []
    if not rows:
        return None
    survey_id = payload.get("survey_id")
    survey = survey_id if isinstance(survey_id, int) else None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    str(c["label"])[:64], callback_data=sign(secret, chat_id, survey, str(c["value"]))
                )
                for c in row
            ]
            for row in rows
        ]
    )


# -- delivery ----------------------------------------------------------------------------------


def _named(exc: TelegramError) -> ChannelError:
    """Return python-telegram-bot's error under the name cxbot's Bot API client gives it."""
    what = "sendMessage"
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        return bot_api.failure(
            what, bot_api.FLOOD, retry_after=wait.total_seconds() if isinstance(wait, timedelta) else wait
        )
    if isinstance(exc, Forbidden):
        return bot_api.failure(what, bot_api.FORBIDDEN, exc.message)
    if isinstance(exc, BadRequest):
        return bot_api.failure(what, bot_api.BAD_REQUEST, exc.message)
    if isinstance(exc, TimedOut):
        return bot_api.failure(what, bot_api.TIMEOUT, exc.message)
    if isinstance(exc, NetworkError):  # connection errors, and 5xx answers
        return bot_api.failure(what, bot_api.NETWORK, exc.message)
    if isinstance(exc, InvalidToken | Conflict | ChatMigrated | EndPointNotFound):  # 401, 404, 409…
        return bot_api.failure(what, bot_api.REFUSED, f"{type(exc).__name__}: {exc.message}")
    return bot_api.failure(what, bot_api.NOT_JSON, exc.message)  # "Invalid server response"


class PtbTransport:
    """Delivers "telegram" outbox messages with the shop's python-telegram-bot ``bot``."""

    def __init__(self, bot: Bot, secret: bytes) -> None:
        self.bot = bot
        self.secret = secret

    async def deliver(self, message: ClaimedMessage) -> None:
        """Send one message.

        Raises:
            ChatBlocked, RetryAfter, Permanent, Transient: see ``bot.channels.bot_api.failure``.
        """
        if message.kind != "message":
            raise Permanent(f"kind {message.kind!r} is not delivered by the PTB integration")
        text = str(message.payload.get("text") or "")[:MAX_TEXT]
        markup = keyboard(self.secret, message.address, message.payload)
        try:
            await self.bot.send_message(int(message.address), text, reply_markup=markup)
        except TelegramError as exc:
            raise _named(exc) from exc


async def deliver_outbox(application: Application[Any, Any, Any, Any, Any, Any], app: App) -> int:
    """Deliver every "telegram" outbox message due now with PTB's bot; return how many were sent.

    The one outbox sender does it (order per chat, retries, dead letters, blocked chats).
    """
    transport = PtbTransport(application.bot, button_secret(app, application.bot.token))
    sender = Sender(app.db, CHANNEL, transport, clock=app.service.clock)
    return (await sender.drain()).get("sent", 0)


# -- handlers ----------------------------------------------------------------------------------


def _customer_of(app: App, chat_id: str) -> str | None:
    with app.db.read() as session:
        identity = repo.find_identity(session, CHANNEL, chat_id)
    return identity.customer_id if identity is not None else None


def _feed(app: App, envelope: Envelope[Inbound]) -> FeedResult:
    """Feed one envelope through the service, as every channel does.

    Raises:
        StartRefused: a deep link that binds nothing (nothing written then).
        CxbotError, StorageError: when feeding fails (nothing written then).
    """
    (result,) = app.service.feed_many([Received(envelope)])
    if isinstance(result, Exception):
        raise result
    return result


def _survey_open(app: App, customer_id: str) -> bool:
    state = app.service.state_of(customer_id)
    return (
        state is not None
        and state.active is not None
        and (state.active.phase is Phase.REASON or app.service.clock() < state.active.expires_at)
    )


class CxbotHandlers:
    """The PTB callbacks, bound to one cxbot App."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def _feed(
        self, application: Application[Any, Any, Any, Any, Any, Any], chat_id: str, inbound: Inbound
    ) -> None:
        await asyncio.to_thread(_feed, self.app, Envelope(CHANNEL, chat_id, inbound))
        await deliver_outbox(application, self.app)
        raise ApplicationHandlerStop

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start [token]: bind the chat to the customer (deep link) and greet; else pass it on."""
        chat = update.effective_chat
        if chat is None or chat.type != "private":
            return
        chat_id = str(chat.id)
        user = update.effective_user
        code = (user.language_code or "")[:2] if user else ""
        language = Lang(code) if code in ("it", "en") else None
        started = Started(language=language)
        args = context.args or []
        if args:  # a deep link: its token names the customer (the service binds the chat)
            linked = Envelope(CHANNEL, chat_id, started, language, start_token=args[0][:64])
            try:
                await asyncio.to_thread(_feed, self.app, linked)
            except StartRefused as refused:  # nothing bound: a plain /start of this chat
                if refused.reason == "linked_elsewhere":
                    log.warning(
                        "start_token_of_another_customer", linked=refused.linked, token_for=refused.token_for
                    )
                else:
                    log.info("bad_start_token")
            else:
                # Surveys that waited for this chat are due now: ask them after the welcome.
                await asyncio.to_thread(run_due_work, self.app.service, self.app.service.clock())
                await deliver_outbox(context.application, self.app)
                raise ApplicationHandlerStop
        if await asyncio.to_thread(_customer_of, self.app, chat_id) is None:
            return  # not a cxbot customer: the shop's own /start answers
        await self._feed(context.application, chat_id, started)

    async def command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/help /aiuto /language /lingua /stop for cxbot's customers."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not message.text:
            return
        customer_id = await asyncio.to_thread(_customer_of, self.app, str(chat.id))
        if customer_id is None:
            return
        word = message.text.split(maxsplit=1)[0].lstrip("/").split("@")[0].lower()
        name = {
            "help": CommandName.HELP,
            "aiuto": CommandName.HELP,
            "language": CommandName.LANGUAGE,
            "lingua": CommandName.LANGUAGE,
            "stop": CommandName.STOP,
        }[word]
        argument = " ".join(context.args or [])[:32]
        await self._feed(context.application, str(chat.id), Command(name=name, argument=argument))

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A cxbot inline button: verified, answered, fed to the engine."""
        query, chat = update.callback_query, update.effective_chat
        if query is None or chat is None:
            return
        secret = button_secret(self.app, context.bot.token)
        press = verify(secret, str(chat.id), query.data)
        if press is None:
            return  # not ours (or forged): the shop's handlers may know it
        await query.answer()
        customer_id = await asyncio.to_thread(_customer_of, self.app, str(chat.id))
        if customer_id is None:
            raise ApplicationHandlerStop
        await self._feed(context.application, str(chat.id), press)

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A typed reply while a survey question is open; other chat goes on to the shop's bot."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not message.text:
            return
        customer_id = await asyncio.to_thread(_customer_of, self.app, str(chat.id))
        if customer_id is None or not await asyncio.to_thread(_survey_open, self.app, customer_id):
            return
        text = CustomerText(text=message.text[:MAX_TEXT])
        await self._feed(context.application, str(chat.id), text)


def add_cxbot_handlers(
    application: Application[Any, Any, Any, Any, Any, Any],
    app: App,
    *,
    group: int = -1,
    poll_interval: float | None = 5.0,
) -> CxbotHandlers:
    """Add cxbot's survey handlers to a shop's PTB ``application`` in handler ``group``.

    With a JobQueue (``python-telegram-bot[job-queue]``) and ``poll_interval`` set, a repeating job
    runs cxbot's due timers and delivers the outbox every ``poll_interval`` seconds, so proactive
    surveys go out without ``cxbot serve``. Returns the handlers object.
    """
    hooks.install(app)  # escalation cards, SLA copies and relays to the agent holding a case
    handlers = CxbotHandlers(app)
    private = filters.ChatType.PRIVATE
    application.add_handler(CommandHandler("start", handlers.start, filters=private), group=group)
    application.add_handler(
        CommandHandler(["help", "aiuto", "language", "lingua", "stop"], handlers.command, filters=private),
        group=group,
    )
    application.add_handler(CallbackQueryHandler(handlers.button, pattern=r"^v1\."), group=group)
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & private, handlers.text), group=group
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBUserWarning)  # "no JobQueue set up" is an answer here
        job_queue = application.job_queue
    if poll_interval is not None and job_queue is not None:

        async def tick(context: ContextTypes.DEFAULT_TYPE) -> None:
            await asyncio.to_thread(run_due_work, app.service, app.service.clock())
            await deliver_outbox(context.application, app)

        job_queue.run_repeating(tick, interval=poll_interval, first=poll_interval, name="cxbot")
    return handlers
