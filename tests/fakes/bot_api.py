"""Fake Telegram Bot API HTTP server for offline end-to-end tests.

A real aiohttp server bound to 127.0.0.1 on a random free port. The real, unmodified clients talk
to it by base URL:

* aiogram: ``Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))``
* python-telegram-bot: ``Bot(token, base_url=f"{api.url}/bot")``

Both send ``POST {url}/bot{token}/{method}`` with form data (multipart when uploading) or JSON.

Use it inside an event loop::

    async with FakeBotAPI() as api:
        ...

or from synchronous code, served by a background thread::

    api = FakeBotAPI()
    api.start_in_thread()  # or: with FakeBotAPI() as api: ...
    ...
    api.stop()

It keeps the state a bot can observe (messages per chat, the update queue with ``getUpdates``
offset semantics, commands, webhook, chat members, forum topics), records every call in
``api.calls``, can inject updates (``push_message``, ``push_callback``, ``push_update``) and
faults (``fail_next``, ``block_chat``, ``set_outage``) and can enforce Telegram's rate limits.
It behaves like Telegram where a bot could get it wrong: editing a message with identical content
is a 400 "message is not modified", ``callback_data`` over 64 bytes is ``BUTTON_DATA_INVALID``,
malformed HTML/MarkdownV2 is "can't parse entities", two concurrent ``getUpdates`` are a 409.
It never makes outbound connections except optional webhook deliveries to loopback addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import ipaddress
import json
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.infra.clock import utcnow

__all__ = [
    "SEND_METHODS",
    "ApiError",
    "Call",
    "FakeBotAPI",
    "Limits",
    "Stats",
    "UploadedFile",
    "WebhookDelivery",
]

#: Methods that deliver a new message to a chat; these are counted in ``stats`` and rate limited.
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)
#: Methods that act on a chat the bot may have been blocked in (``block_chat``).
_CHAT_WRITE_METHODS = SEND_METHODS | {"sendChatAction", "editMessageText", "editMessageReplyMarkup"}

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# Form fields that are free text and must never be JSON-decoded ("123" stays a string).
_TEXT_KEYS = frozenset(
    {
        "text",
        "caption",
        "data",
        "callback_query_id",
        "inline_message_id",
        "title",
        "name",
        "description",
        "short_description",
        "url",
        "secret_token",
        "parse_mode",
        "caption_parse_mode",
        "language_code",
        "action",
        "query",
        "message_effect_id",
        "business_connection_id",
        "emoji",
        "icon_custom_emoji_id",
        "file_id",
        "photo",
        "document",
        "audio",
        "video",
        "animation",
        "voice",
        "sticker",
        "thumbnail",
        "ip_address",
        "certificate",
        "question",
        "phone_number",
        "first_name",
        "last_name",
        "address",
        "payload",
        "currency",
        "start_parameter",
        "custom_title",
        "invite_link",
    }
)
_ID_KEYS = frozenset({"chat_id", "from_chat_id", "user_id", "message_id", "message_thread_id"})
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_MDV2_ALWAYS_ESCAPED = frozenset("#+-={}.!")
_MAX_POLL_LIMIT = 100

#: What a reverse proxy (nginx) answers when the Bot API behind it is down: HTML, not JSON.
HTML_PAGE = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def _unix_now() -> int:
    """Telegram's ``date`` fields: the process clock (pinned in tests), not the wall clock."""
    return int(utcnow().timestamp())


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": status, ...}``."""

    def __init__(
        self, status: int, description: str, retry_after: int | None = None, *, html: bool = False
    ) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after
        #: Answer with a proxy's HTML error page instead of the Bot API's JSON (see ``HTML_PAGE``).
        self.html = html

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


@dataclass(frozen=True)
class UploadedFile:
    """A file received in a multipart upload (replaces the parameter's value in ``Call.params``)."""

    field: str
    filename: str
    content_type: str
    data: bytes = dataclasses.field(repr=False)  # the class's own ``field`` attribute shadows the name

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Call:
    """One HTTP request to the fake, recorded once its answer is known.

    ``at`` is the monotonic arrival time; ``status`` the HTTP status answered; ``response`` the
    JSON body answered (``response["result"]`` on success).
    """

    method: str
    params: dict[str, Any]
    token: str
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


@dataclass(frozen=True)
class Limits:
    """Telegram's documented broadcast limits; ``None`` disables one of them."""

    global_per_s: int | None = 30
    per_chat_per_s: int | None = 1
    per_group_per_min: int | None = 20


@dataclass
class Stats:
    """Counters of sending methods (``SEND_METHODS``)."""

    sent: int = 0
    rejected_429: int = 0
    per_chat: Counter[Any] = field(default_factory=Counter)
    rejected_per_chat: Counter[Any] = field(default_factory=Counter)
    #: ``(monotonic arrival time, chat_id)`` of every successful send, in order.
    send_log: list[tuple[float, Any]] = field(default_factory=list)

    def send_rate(self, start: float | None = None, end: float | None = None) -> float:
        """Achieved successful sends per second.

        Without bounds: ``(n - 1) / (last - first)`` over all sends (0.0 with fewer than two).
        With ``start``/``end`` (monotonic): sends in ``[start, end]`` divided by ``end - start``.
        """
        times = [t for t, _ in self.send_log]
        if start is None and end is None:
            if len(times) < 2 or times[-1] == times[0]:
                return 0.0
            return (len(times) - 1) / (times[-1] - times[0])
        lo = times[0] if start is None and times else (start or 0.0)
        hi = time.monotonic() if end is None else end
        if hi <= lo:
            return 0.0
        return sum(1 for t in times if lo <= t <= hi) / (hi - lo)

    def max_in_window(self, window: float = 1.0, chat_id: Any = None) -> int:
        """Largest number of successful sends (to ``chat_id`` if given) within any ``window`` seconds."""
        times = [t for t, c in self.send_log if chat_id is None or c == chat_id]
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the configured webhook (``deliver_webhooks=True``)."""

    update_id: int
    url: str
    status: int | None
    at: float
    error: str | None = None


@dataclass
class _Fault:
    method: str
    status: int
    remaining: int
    retry_after: int | None
    description: str | None
    html: bool = False
    until: float | None = None  # a timed fault (``fail_for``): active until this monotonic time


class FakeBotAPI:
    """Fake Telegram Bot API server; see the module docstring.

    :param require_token: if set, any other token is answered 401 Unauthorized.
    :param enforce_limits: enforce the default ``Limits()`` (see ``limits()``).
    :param agents: user ids reported as "member" by ``getChatMember`` in every chat.
    :param strict_chats: a send to a chat never seen (no pushed update, no ``add_chat``) fails like
        Telegram: 403 "bot can't initiate conversation with a user" / 400 "chat not found".
    :param validate_markup: check ``parse_mode`` HTML/MarkdownV2 text like Telegram (400 on error).
    :param poll_timeout_cap: longest a ``getUpdates`` long poll is held, in seconds.
    :param deliver_webhooks: POST queued updates to a loopback webhook URL set with ``setWebhook``.
    :param honour_allowed_updates: False serves every kind to ``getUpdates`` (sample replays).
    """

    def __init__(
        self,
        *,
        require_token: str | None = None,
        enforce_limits: bool = False,
        agents: Iterable[int] = (),
        bot_username: str = "cxbot_test_bot",
        bot_first_name: str = "CX Test Bot",
        strict_chats: bool = False,
        validate_markup: bool = True,
        poll_timeout_cap: float = 2.0,
        deliver_webhooks: bool = False,
        webhook_retry_delay: float = 0.2,
        first_update_id: int = 100_000,
        honour_allowed_updates: bool = True,
    ) -> None:
        self.require_token = require_token
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.strict_chats = strict_chats
        self.validate_markup = validate_markup
        self.poll_timeout_cap = poll_timeout_cap
        self.deliver_webhooks = deliver_webhooks
        self.webhook_retry_delay = webhook_retry_delay
        #: False: ``getUpdates`` returns every kind, as if ``allowed_updates`` had been ignored
        #: (replays of real samples check that any kind is survived, asked for or not).
        self.honour_allowed_updates = honour_allowed_updates

        self.calls: list[Call] = []
        self.tokens: list[str] = []  # distinct tokens seen, in order
        self.stats = Stats()
        self.webhook_deliveries: list[WebhookDelivery] = []

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

        self._updates: deque[dict[str, Any]] = deque()
        self._next_update_id = first_update_id
        self._allowed_updates: list[str] | None = None
        self._poll_gen = 0
        self._active_polls = 0

        self._chats: dict[Any, dict[str, Any]] = {}
        self._channel_ids: dict[str, int] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[Any, Any], dict[str, Any]] = {}  # (chat id, message id)
        self._next_message_id: dict[Any, int] = {}
        self._topics: dict[tuple[Any, int], dict[str, Any]] = {}
        self._callbacks: dict[str, bool] = {}  # issued callback query id -> answered
        self._next_callback_id = 4_000_000_000_000_000_000
        self._next_file = 1

        self._agents: set[int] = set(agents)
        self._members: dict[tuple[Any, int], str] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._webhook: dict[str, Any] = {"url": ""}
        self._webhook_error: tuple[int, str] | None = None

        self._faults: list[_Fault] = []
        self._blocked: set[Any] = set()
        self._outage_until = 0.0
        self._outage_html = False
        self._limits: Limits | None = Limits() if enforce_limits else None
        self._global_window: deque[float] = deque()
        self._chat_windows: dict[Any, deque[float]] = {}

        self._handlers: dict[str, Callable[..., Any]] = {
            "getMe": self._get_me,
            "logOut": lambda p, t: True,
            "close": lambda p, t: True,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "getChatMember": self._get_chat_member,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
            "createForumTopic": self._create_forum_topic,
            "copyMessage": self._copy_message,
        }
        self._canonical = {name.lower(): name for name in [*self._handlers, "getUpdates"]}

        self.url = ""
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._webhook_task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeBotAPI:
        """Start serving on the running event loop; sets ``url`` and ``port``."""
        if self._runner is not None:
            raise RuntimeError("FakeBotAPI already started")
        self._loop = asyncio.get_running_loop()
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.url = f"http://127.0.0.1:{self.port}"
        if self.deliver_webhooks:
            self._webhook_task = asyncio.create_task(self._webhook_loop())
        return self

    async def close(self) -> None:
        """Stop serving: pending long polls return, webhook delivery stops, the port is released."""
        with self._lock:
            self._closing = True
            self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start_in_thread(self, timeout: float = 10.0) -> FakeBotAPI:
        """Serve from a background thread with its own event loop (for synchronous code)."""
        if self._thread is not None:
            raise RuntimeError("FakeBotAPI already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as e:
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="FakeBotAPI", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("FakeBotAPI did not start")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with ``start_in_thread``."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeBotAPI:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ configuration

    def limits(
        self,
        global_per_s: int | None = 30,
        per_chat_per_s: int | None = 1,
        per_group_per_min: int | None = 20,
    ) -> None:
        """Enforce rate limits on ``SEND_METHODS`` (sliding windows; excess answered 429)."""
        with self._lock:
            self._limits = Limits(global_per_s, per_chat_per_s, per_group_per_min)

    def disable_limits(self) -> None:
        with self._lock:
            self._limits = None

    def fail_next(
        self,
        method: str,
        status: int,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        *,
        html: bool = False,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (``"*"``: any method) with an error.

        429 carries ``parameters.retry_after`` (default 1); descriptions default to Telegram's.
        ``html``: the answer is a proxy's HTML error page (``text/html``), not JSON.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults.append(_Fault(method, status, count, retry_after, description, html))

    def fail_for(
        self,
        method: str,
        status: int,
        seconds: float,
        *,
        retry_after: int | None = None,
        html: bool = False,
    ) -> None:
        """Answer every call of ``method`` (``"*"``: any, ``"send"``: the send methods) with an
        error for the next ``seconds``: an HTML 502 page, a 429 flood, a 5xx outage."""
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            until = time.monotonic() + seconds
            self._faults.append(_Fault(method, status, 1, retry_after, None, html, until))

    def clear_faults(self) -> None:
        """Forget every pending fault (counted and timed)."""
        with self._lock:
            self._faults.clear()

    def block_chat(self, chat_id: Any) -> None:
        """The user blocked the bot: every send/edit/chat action to ``chat_id`` gets 403 until unblocked."""
        with self._lock:
            self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: Any) -> None:
        with self._lock:
            self._blocked.discard(chat_id)

    def set_outage(self, seconds: float, *, html: bool = False) -> None:
        """Every method answers 502 Bad Gateway for the next ``seconds`` (``html``: as a proxy's page)."""
        with self._lock:
            self._outage_until = time.monotonic() + seconds
            self._outage_html = html

    def set_member(self, chat_id: Any, user_id: int, status: str = "member") -> None:
        """Status reported by ``getChatMember``: creator, administrator, member, restricted, left, kicked."""
        with self._lock:
            self._members[(chat_id, user_id)] = status

    def add_agent(self, user_id: int) -> None:
        with self._lock:
            self._agents.add(user_id)

    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "private",
        *,
        title: str | None = None,
        first_name: str = "Mario",
        username: str | None = None,
        is_forum: bool = False,
    ) -> dict[str, Any]:
        """Make a chat known (as if it had written to the bot); returns the Chat object."""
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = title or f"Group {chat_id}"
        if username:
            chat["username"] = username
        if is_forum:
            chat["is_forum"] = True
        with self._lock:
            self._chats[chat_id] = chat
        return dict(chat)

    # ------------------------------------------------------------------ injecting updates

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update; ``update_id`` is assigned when missing. Returns the update.

        A message in it is remembered (``copyMessage`` can copy it, replies can quote it).
        """
        with self._lock:
            update = dict(update)
            message = update.get("message")
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                self._messages.setdefault((message["chat"].get("id"), message.get("message_id")), message)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
            self._updates.append(update)
            self._notify()
            return update

    @contextlib.contextmanager
    def batch(self) -> Iterator[FakeBotAPI]:
        """Within this block, pushed updates are served together (no poll sees only some)."""
        with self._lock:
            yield self

    def push_batch(self, updates: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue raw updates at once, so one ``getUpdates`` returns them together (ids assigned)."""
        with self._lock:
            return [self.push_update(update) for update in updates]

    def push_message(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        language_code: str | None = "it",
        first_name: str = "Mario",
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        chat_title: str | None = None,
    ) -> dict[str, Any]:
        """Queue a text message written by a user; commands get a ``bot_command`` entity."""
        if user_id is None:
            user_id = chat_id if chat_type == "private" else 111_111
        with self._lock:
            user = self._user(user_id, first_name, last_name, username, language_code)
            chat = self._chats.get(chat_id)
            if chat is None or chat.get("type") != chat_type:
                chat = self.add_chat(
                    chat_id,
                    chat_type,
                    title=chat_title,
                    first_name=first_name,
                    username=username if chat_type == "private" else None,
                    is_forum=message_thread_id is not None and chat_type == "supergroup",
                )
            message: dict[str, Any] = {
                "message_id": self._alloc_message_id(chat_id),
                "from": user,
                "date": _unix_now(),
                "chat": dict(chat),
                "text": text,
            }
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
            if message_thread_id is not None:
                message["message_thread_id"] = message_thread_id
                message["is_topic_message"] = True
            if reply_to_message_id is not None:
                replied = self._messages.get((chat_id, reply_to_message_id))
                message["reply_to_message"] = (
                    dict(replied)
                    if replied
                    else {
                        "message_id": reply_to_message_id,
                        "date": message["date"],
                        "chat": dict(chat),
                    }
                )
            self._messages[(chat_id, message["message_id"])] = message
            return self.push_update({"message": message})

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        user_id: int | None = None,
        *,
        first_name: str = "Mario",
        language_code: str | None = "it",
    ) -> dict[str, Any]:
        """Queue an inline-button press on message ``message_id`` of ``chat_id``."""
        if user_id is None:
            user_id = chat_id if isinstance(chat_id, int) and chat_id > 0 else 111_111
        with self._lock:
            user = self._user(user_id, first_name, None, None, language_code)
            message = self._messages.get((chat_id, message_id))
            if message is None:
                message = {
                    "message_id": message_id,
                    "from": self._bot_user(None),
                    "date": _unix_now(),
                    "chat": self._chat(chat_id),
                    "text": "",
                }
            query_id = str(self._next_callback_id)
            self._next_callback_id += 1
            self._callbacks[query_id] = False
            query = {
                "id": query_id,
                "from": user,
                "message": dict(message),
                "chat_instance": str(abs(hash(("chat_instance", chat_id))) % 10**18),
                "data": data,
            }
            return self.push_update({"callback_query": query})

    # ------------------------------------------------------------------ inspection

    def calls_of(self, method: str) -> list[Call]:
        """All recorded calls of ``method`` (successful or not), in order."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def sent_messages(self, chat_id: Any = None, *, include_failed: bool = False) -> list[dict[str, Any]]:
        """Params of the successful ``sendMessage`` calls (to ``chat_id`` if given)."""
        with self._lock:
            return [
                c.params
                for c in self.calls
                if c.method == "sendMessage"
                and (include_failed or c.ok)
                and (chat_id is None or c.params.get("chat_id") == chat_id)
            ]

    def chat_messages(self, chat_id: Any) -> list[dict[str, Any]]:
        """Current messages of a chat (user's and bot's, after edits and deletions), by message_id."""
        with self._lock:
            found = [dict(m) for (c, _), m in self._messages.items() if c == chat_id]
        return sorted(found, key=lambda m: m["message_id"])

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed (by a getUpdates offset or a webhook 2xx)."""
        with self._lock:
            return list(self._updates)

    @property
    def active_polls(self) -> int:
        """Number of ``getUpdates`` long polls being held right now."""
        with self._lock:
            return self._active_polls

    def _matcher(self, what: str | Callable[[Call], bool]) -> Callable[[Call], bool]:
        if isinstance(what, str):
            return lambda c: c.method == what
        return what

    def _timeout_message(self, what: object, count: int, found: int, timeout: float) -> str:
        with self._lock:
            recent = ", ".join(f"{c.method}:{c.status}" for c in self.calls[-20:])
        return f"waited {timeout}s for {count} call(s) matching {what!r}, got {found}; last calls: [{recent}]"

    async def wait_for(
        self,
        what: str | Callable[[Call], bool],
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Call]:
        """Wait until ``count`` recorded calls match (a method name or a ``Call`` predicate).

        Returns the matching calls; raises ``TimeoutError`` listing the last calls otherwise.
        Each call is judged once, when it is recorded (predicates must not depend on later state).
        Works on any event loop, also while the server runs in its thread.
        """
        match = self._matcher(what)
        loop = asyncio.get_running_loop()
        ev = asyncio.Event()
        deadline = loop.time() + timeout
        with self._lock:
            self._waiters.append((loop, ev))
        found: list[Call] = []
        scanned = 0  # calls are only appended: each wake looks at the new ones alone
        try:
            while True:
                ev.clear()
                with self._lock:
                    if len(self.calls) < scanned:  # the list was replaced or cut: start over
                        found, scanned = [], 0
                    found.extend(c for c in self.calls[scanned:] if match(c))
                    scanned = len(self.calls)
                if len(found) >= count:
                    return found
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(what, count, len(found), timeout))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ev.wait(), remaining)
        finally:
            with self._lock:
                self._waiters.remove((loop, ev))

    def wait_for_sync(
        self, what: str | Callable[[Call], bool], count: int = 1, timeout: float = 5.0
    ) -> list[Call]:
        """Blocking ``wait_for`` for synchronous code (server in its thread)."""
        match = self._matcher(what)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if match(c)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(what, count, len(found), timeout))
                self._cond.wait(remaining)

    # ------------------------------------------------------------------ HTTP plumbing

    def _notify(self) -> None:
        """Wake waiters (call with the lock held)."""
        self._cond.notify_all()
        for loop, ev in list(self._waiters):
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(ev.set)

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        token = request.match_info["token"]
        raw_method = request.match_info["method"]
        method = self._canonical.get(raw_method.lower(), raw_method)
        params: dict[str, Any] = {}
        try:
            params = await _read_params(request)
            result = await self._dispatch(method, params, token)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except ApiError as e:
            body, status = e.body(), e.status
            if e.html:
                page = HTML_PAGE.format(status=status)
                with self._lock:
                    self.calls.append(Call(method, params, token, arrived, status, {"html": page}))
                    self._notify()
                return web.Response(text=page, status=status, content_type="text/html")
        with self._lock:
            call = Call(method, params, token, arrived, status, body)
            self.calls.append(call)
            if token not in self.tokens:
                self.tokens.append(token)
            if status == 429:
                self.stats.rejected_429 += 1
                self.stats.rejected_per_chat[params.get("chat_id")] += 1
            elif status == 200 and method in SEND_METHODS:
                self.stats.sent += 1
                self.stats.per_chat[params.get("chat_id")] += 1
                self.stats.send_log.append((arrived, params.get("chat_id")))
            self._notify()
        return web.json_response(body, status=status)

    async def _dispatch(self, method: str, params: dict[str, Any], token: str) -> Any:
        with self._lock:
            if self.require_token is not None and token != self.require_token:
                raise ApiError(401, "Unauthorized")
            if time.monotonic() < self._outage_until:
                raise ApiError(502, "Bad Gateway", html=self._outage_html)
            if method != "getUpdates" and method not in self._handlers:
                raise ApiError(404, "Not Found: method not found")
            self._raise_fault(method)
            chat_id = self._resolve_chat_id(params)
            if method in _CHAT_WRITE_METHODS and chat_id in self._blocked:
                chat = self._chats.get(chat_id, {})
                if chat.get("type", "private") == "private":
                    raise ApiError(403, "Forbidden: bot was blocked by the user")
                raise ApiError(403, "Forbidden: bot was kicked from the group chat")
            if method in SEND_METHODS:
                self._check_chat_reachable(chat_id)
                self._check_limits(chat_id)
            if method != "getUpdates":
                result = self._handlers[method](params, token)
                if method in SEND_METHODS and self._limits is not None:
                    now = time.monotonic()  # only accepted sends count towards the windows
                    self._global_window.append(now)
                    self._chat_windows.setdefault(chat_id, deque()).append(now)
                return result
        return await self._get_updates(params)

    def _raise_fault(self, method: str) -> None:
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.until is None or f.until > now]
        for fault in self._faults:
            matches = fault.method in (method, "*") or (fault.method == "send" and method in SEND_METHODS)
            if matches and fault.remaining > 0:
                if fault.until is None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                description = fault.description
                if description is None:
                    if fault.status == 429:
                        description = f"Too Many Requests: retry after {fault.retry_after}"
                    else:
                        description = _DEFAULT_DESCRIPTIONS.get(fault.status, f"Error {fault.status}")
                raise ApiError(fault.status, description, fault.retry_after, html=fault.html)

    def _resolve_chat_id(self, params: dict[str, Any]) -> Any:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            chat_id = self._channel_ids.setdefault(chat_id, -1_001_000_000_000 - len(self._channel_ids))
            if chat_id not in self._chats:
                self._chats[chat_id] = {"id": chat_id, "type": "channel", "title": params["chat_id"][1:]}
                self._chats[chat_id]["username"] = params["chat_id"][1:]
            params["chat_id"] = chat_id
        return chat_id

    def _check_chat_reachable(self, chat_id: Any) -> None:
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if self.strict_chats and chat_id not in self._chats:
            if isinstance(chat_id, int) and chat_id > 0:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise ApiError(400, "Bad Request: chat not found")

    def _check_limits(self, chat_id: Any) -> None:
        limits = self._limits
        if limits is None:
            return
        now = time.monotonic()
        gw = self._global_window
        while gw and now - gw[0] >= 1.0:
            gw.popleft()
        cw = self._chat_windows.setdefault(chat_id, deque())
        while cw and now - cw[0] >= 60.0:
            cw.popleft()
        waits: list[float] = []
        if limits.global_per_s is not None and len(gw) >= limits.global_per_s:
            waits.append(gw[-limits.global_per_s] + 1.0 - now)
        if limits.per_chat_per_s is not None:
            recent = [t for t in cw if now - t < 1.0]
            if len(recent) >= limits.per_chat_per_s:
                waits.append(recent[-limits.per_chat_per_s] + 1.0 - now)
        group_limit = limits.per_group_per_min
        if group_limit is not None and self._is_group(chat_id) and len(cw) >= group_limit:
            waits.append(cw[-group_limit] + 60.0 - now)
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    def _is_group(self, chat_id: Any) -> bool:
        chat = self._chats.get(chat_id)
        if chat is not None:
            return chat.get("type") in ("group", "supergroup")
        return isinstance(chat_id, int) and chat_id < 0

    # ------------------------------------------------------------------ object builders

    def _user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return dict(user)

    def _bot_user(self, token: str | None) -> dict[str, Any]:
        prefix = (token or "").split(":", 1)[0]
        bot_id = int(prefix) if prefix.isdigit() else 1_000_000
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is not None:
            return dict(chat)
        if isinstance(chat_id, int) and chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        if isinstance(chat_id, int) and str(chat_id).startswith("-100"):
            return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def _alloc_message_id(self, chat_id: Any) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _new_bot_message(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        chat_id = params["chat_id"]
        message: dict[str, Any] = {
            "message_id": self._alloc_message_id(chat_id),
            "from": self._bot_user(token),
            "date": _unix_now(),
            "chat": self._chat(chat_id),
        }
        thread_id = params.get("message_thread_id")
        if thread_id:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        reply_to = params.get("reply_to_message_id")
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id", reply_to)
        if reply_to is not None:
            replied = self._messages.get((chat_id, reply_to))
            if replied is not None:
                message["reply_to_message"] = dict(replied)
        return message

    def _copy_message(self, p: dict[str, Any], token: str) -> dict[str, Any]:
        """A copy of a message the fake knows (pushed or sent) into ``chat_id``; its content kept."""
        source = self._messages.get((p.get("from_chat_id"), p.get("message_id")))
        if source is None:
            raise ApiError(400, "Bad Request: message to copy not found")
        message = self._new_bot_message(p, token)
        skip = {
            "message_id",
            "from",
            "date",
            "chat",
            "message_thread_id",
            "is_topic_message",
            "reply_to_message",
        }
        message.update({k: v for k, v in source.items() if k not in skip})
        self._messages[(p["chat_id"], message["message_id"])] = message
        return {"message_id": message["message_id"]}

    def _file_id(self, prefix: str) -> tuple[str, str]:
        n = self._next_file
        self._next_file += 1
        return f"{prefix}{n:012d}fakefileid", f"AQAD{n:08d}"

    # ------------------------------------------------------------------ methods

    def _get_me(self, p: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            **self._bot_user(token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(p.get("offset") or 0)
        limit = min(max(int(p.get("limit") or _MAX_POLL_LIMIT), 1), _MAX_POLL_LIMIT)
        timeout = min(max(float(p.get("timeout") or 0), 0.0), self.poll_timeout_cap)
        with self._lock:
            if self._webhook["url"]:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            allowed = p.get("allowed_updates")
            if isinstance(allowed, list):
                self._allowed_updates = allowed or None
            if offset > 0:
                while self._updates and self._updates[0]["update_id"] < offset:
                    self._updates.popleft()
            elif offset < 0:
                while len(self._updates) > -offset:
                    self._updates.popleft()
            self._poll_gen += 1
            gen = self._poll_gen
            self._notify()  # a poll held by someone else is now superseded (409)
            result = self._select_updates(limit)
            if result or timeout <= 0 or self._closing:
                return result
            self._active_polls += 1
        loop = asyncio.get_running_loop()
        ev = asyncio.Event()
        deadline = loop.time() + timeout
        with self._lock:
            self._waiters.append((loop, ev))
        try:
            while True:
                ev.clear()
                with self._lock:
                    if self._poll_gen != gen:
                        raise ApiError(409, _DEFAULT_DESCRIPTIONS[409])
                    result = self._select_updates(limit)
                    if result or self._closing:
                        return result
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ev.wait(), remaining)
        finally:
            with self._lock:
                self._waiters.remove((loop, ev))
                self._active_polls -= 1

    def _select_updates(self, limit: int) -> list[dict[str, Any]]:
        allowed = self._allowed_updates if self.honour_allowed_updates else None
        out = [u for u in self._updates if allowed is None or _update_type(u) in allowed]
        return [dict(u) for u in out[:limit]]

    def _set_webhook(self, p: dict[str, Any], token: str) -> bool:
        url = p.get("url") or ""
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": url}
        for key in ("secret_token", "max_connections", "allowed_updates", "ip_address"):
            if p.get(key) is not None:
                self._webhook[key] = p[key]
        self._webhook_error = None
        return True

    def _delete_webhook(self, p: dict[str, Any], token: str) -> bool:
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": ""}
        self._webhook_error = None
        return True

    def _get_webhook_info(self, p: dict[str, Any], token: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook["url"]:
            info["max_connections"] = self._webhook.get("max_connections", 40)
            if "allowed_updates" in self._webhook:
                info["allowed_updates"] = self._webhook["allowed_updates"]
        if self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    def _commands_key(self, p: dict[str, Any]) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.get("language_code") or ""

    def _set_my_commands(self, p: dict[str, Any], token: str) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for c in commands:
            name = c.get("command", "") if isinstance(c, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(c.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._commands_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, p: dict[str, Any], token: str) -> list[dict[str, Any]]:
        return [dict(c) for c in self._commands.get(self._commands_key(p), [])]

    def _delete_my_commands(self, p: dict[str, Any], token: str) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    def _display_text(self, text: Any, parse_mode: Any, *, caption: bool = False) -> str:
        if not isinstance(text, str) or not text:
            if caption:
                return ""
            raise ApiError(400, "Bad Request: message text is empty")
        shown = text
        if self.validate_markup and isinstance(parse_mode, str):
            if parse_mode.upper() == "HTML":
                shown = _parse_html(text)
            elif parse_mode == "MarkdownV2":
                shown = _parse_markdown_v2(text)
        if not shown.strip() and not caption:
            raise ApiError(400, "Bad Request: message text is empty")
        if caption and len(shown) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        if not caption and len(shown) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return shown

    def _apply_markup(self, message: dict[str, Any], markup: Any) -> None:
        message.pop("reply_markup", None)
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _validate_inline_keyboard(markup["inline_keyboard"])
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}

    def _send_message(self, p: dict[str, Any], token: str) -> dict[str, Any]:
        text = self._display_text(p.get("text"), p.get("parse_mode"))
        message = self._new_bot_message(p, token)
        message["text"] = text
        self._apply_markup(message, p.get("reply_markup"))
        self._messages[(p["chat_id"], message["message_id"])] = message
        return dict(message)

    def _editable(self, p: dict[str, Any], token: str) -> dict[str, Any] | None:
        if p.get("inline_message_id"):
            return None
        key = (p.get("chat_id"), p.get("message_id"))
        message = self._messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.get("from", {}).get("is_bot"):
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _edit_message_text(self, p: dict[str, Any], token: str) -> dict[str, Any] | bool:
        text = self._display_text(p.get("text"), p.get("parse_mode"))
        message = self._editable(p, token)
        if message is None:
            return True
        markup = p.get("reply_markup")
        new_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if message.get("text") == text and message.get("reply_markup") == new_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        updated = dict(message, text=text, edit_date=_unix_now())
        self._apply_markup(updated, markup)  # Telegram drops the keyboard when none is passed
        self._messages[(p["chat_id"], p["message_id"])] = updated
        return dict(updated)

    def _edit_message_reply_markup(self, p: dict[str, Any], token: str) -> dict[str, Any] | bool:
        message = self._editable(p, token)
        if message is None:
            return True
        markup = p.get("reply_markup")
        new_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if message.get("reply_markup") == new_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        updated = dict(message, edit_date=_unix_now())
        self._apply_markup(updated, markup)
        self._messages[(p["chat_id"], p["message_id"])] = updated
        return dict(updated)

    def _answer_callback_query(self, p: dict[str, Any], token: str) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        if not query_id:
            raise ApiError(400, "Bad Request: QUERY_ID_INVALID")
        if len(str(p.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        if self._callbacks.get(query_id):
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        if query_id in self._callbacks:
            self._callbacks[query_id] = True
        return True

    def _media_message(self, p: dict[str, Any], token: str, key: str) -> tuple[dict[str, Any], Any]:
        media = p.get(key)
        if media is None or media == "":
            raise ApiError(400, f"Bad Request: there is no {key} in the request")
        caption = self._display_text(p.get("caption"), p.get("parse_mode"), caption=True)
        message = self._new_bot_message(p, token)
        if caption:
            message["caption"] = caption
        self._apply_markup(message, p.get("reply_markup"))
        return message, media

    def _send_photo(self, p: dict[str, Any], token: str) -> dict[str, Any]:
        message, media = self._media_message(p, token, "photo")
        file_id, unique = self._file_id("AgACAgIAAxkBAAI")
        size = media.size if isinstance(media, UploadedFile) else 54_321
        message["photo"] = [
            {"file_id": f"{file_id}s", "file_unique_id": f"{unique}s", "width": 90, "height": 90},
            {"file_id": file_id, "file_unique_id": unique, "width": 800, "height": 800, "file_size": size},
        ]
        self._messages[(p["chat_id"], message["message_id"])] = message
        return dict(message)

    def _send_document(self, p: dict[str, Any], token: str) -> dict[str, Any]:
        message, media = self._media_message(p, token, "document")
        file_id, unique = self._file_id("BQACAgIAAxkBAAI")
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique}
        if isinstance(media, UploadedFile):
            document.update(file_name=media.filename, mime_type=media.content_type, file_size=media.size)
        message["document"] = document
        self._messages[(p["chat_id"], message["message_id"])] = message
        return dict(message)

    def _get_chat_member(self, p: dict[str, Any], token: str) -> dict[str, Any]:
        chat_id, user_id = p.get("chat_id"), p.get("user_id")
        if not isinstance(user_id, int):
            raise ApiError(400, "Bad Request: invalid user_id specified")
        status = self._members.get((chat_id, user_id))
        if status is None:
            status = "member" if user_id in self._agents else "left"
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if user_id == self._bot_user(token)["id"]:
            user = self._bot_user(token)
        return _chat_member(status, dict(user))

    def _delete_message(self, p: dict[str, Any], token: str) -> bool:
        if self._messages.pop((p.get("chat_id"), p.get("message_id")), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _send_chat_action(self, p: dict[str, Any], token: str) -> bool:
        if p.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if p.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _create_forum_topic(self, p: dict[str, Any], token: str) -> dict[str, Any]:
        chat_id = p.get("chat_id")
        name = p.get("name") or ""
        if not 1 <= len(name) <= 128:
            raise ApiError(
                400, "Bad Request: TOPIC_TITLE_EMPTY" if not name else "Bad Request: TOPIC_TITLE_TOO_LONG"
            )
        chat = self._chats.get(chat_id)
        if chat is not None and chat.get("type") == "private":
            raise ApiError(400, "Bad Request: the chat is not a forum")
        if chat is None:
            chat = self._chat(chat_id)
            chat["type"] = "supergroup"
            self._chats[chat_id] = chat
        chat["is_forum"] = True
        thread_id = self._alloc_message_id(chat_id)  # the topic is its creation message
        topic: dict[str, Any] = {
            "message_thread_id": thread_id,
            "name": name,
            "icon_color": p.get("icon_color") or 7322096,
        }
        if p.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = p["icon_custom_emoji_id"]
        self._topics[(chat_id, thread_id)] = topic
        return dict(topic)

    def topics(self, chat_id: Any) -> list[dict[str, Any]]:
        """Forum topics created in ``chat_id``."""
        with self._lock:
            return [dict(t) for (c, _), t in self._topics.items() if c == chat_id]

    # ------------------------------------------------------------------ webhook delivery

    async def _webhook_loop(self) -> None:
        loop = asyncio.get_running_loop()
        ev = asyncio.Event()
        with self._lock:
            self._waiters.append((loop, ev))
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                while not self._closing:
                    ev.clear()
                    with self._lock:
                        url = self._webhook["url"]
                        secret = self._webhook.get("secret_token")
                        update = dict(self._updates[0]) if url and self._updates else None
                    if update is None:
                        await ev.wait()
                        continue
                    if not _is_loopback(url):
                        with self._lock:
                            self._webhook_error = (_unix_now(), "fake refuses non-loopback webhook")
                        await ev.wait()
                        continue
                    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                    status: int | None = None
                    error: str | None = None
                    try:
                        async with session.post(url, json=update, headers=headers) as resp:
                            status = resp.status
                            await resp.read()
                    except (aiohttp.ClientError, TimeoutError) as e:
                        error = f"{type(e).__name__}: {e}"
                    delivered = status is not None and 200 <= status < 300
                    with self._lock:
                        self.webhook_deliveries.append(
                            WebhookDelivery(update["update_id"], url, status, time.monotonic(), error)
                        )
                        if delivered:
                            if self._updates and self._updates[0]["update_id"] == update["update_id"]:
                                self._updates.popleft()
                        else:
                            self._webhook_error = (_unix_now(), error or f"Wrong response: {status}")
                        self._notify()
                    if not delivered:
                        await asyncio.sleep(self.webhook_retry_delay)
        finally:
            with self._lock:
                self._waiters.remove((loop, ev))


# ---------------------------------------------------------------------- helpers


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json":
        raw = await request.read()
        if raw:
            try:
                data = json.loads(raw)
            except ValueError as e:
                raise ApiError(400, "Bad Request: can't parse JSON request body") from e
            if not isinstance(data, dict):
                raise ApiError(400, "Bad Request: JSON request body must be an object")
            params.update(data)
    elif request.body_exists:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = UploadedFile(key, value.filename, value.content_type, value.file.read())
            else:
                params[key] = _decode(key, value if isinstance(value, str) else value.decode())
    for key in _ID_KEYS:
        given = params.get(key)
        if isinstance(given, str) and re.fullmatch(r"-?\d+", given):
            params[key] = int(given)
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
            params[key] = files.pop(value[9:])
    params.update(files)
    return params


def _decode(key: str, value: str) -> Any:
    if key in _TEXT_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _update_type(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton expected")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text must be non-empty")
            actions = [a for a in _INLINE_ACTIONS if a in button]
            if not actions:
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _chat_member(status: str, user: dict[str, Any]) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
            can_send_welcome_messages=False,
            can_manage_topics=True,
        )
    elif status == "restricted":
        member.update(
            is_member=True,
            can_send_messages=False,
            can_send_audios=False,
            can_send_documents=False,
            can_send_photos=False,
            can_send_videos=False,
            can_send_video_notes=False,
            can_send_voice_notes=False,
            can_send_polls=False,
            can_send_other_messages=False,
            can_add_web_page_previews=False,
            can_react_to_messages=False,
            can_edit_tag=False,
            can_change_info=False,
            can_invite_users=False,
            can_pin_messages=False,
            can_manage_topics=False,
            until_date=0,
        )
    elif status == "kicked":
        member["until_date"] = 0
    elif status not in ("member", "left"):
        raise ApiError(400, f"Bad Request: fake has no chat member status {status!r}")
    return member


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def _parse_html(text: str) -> str:
    """Validate Telegram HTML and return the text shown to the user (tags removed, entities decoded)."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        lt = text.find("<", i)
        if lt < 0:
            out.append(html.unescape(text[i:]))
            break
        out.append(html.unescape(text[i:lt]))
        m = _HTML_TAG_RE.match(text, lt)
        if m is None:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Unexpected character after '<' "
                f"at byte offset {_byte_offset(text, lt)}",
            )
        closing, name = m.group(1) == "/", m.group(2).lower()
        if name not in _HTML_TAGS:
            kind = "end" if closing else "start"
            raise ApiError(
                400,
                f'Bad Request: can\'t parse entities: Unsupported {kind} tag "{name}" '
                f"at byte offset {_byte_offset(text, lt)}",
            )
        if closing:
            if not stack or stack[-1] != name:
                expected = f'expected "</{stack[-1]}>", ' if stack else ""
                raise ApiError(
                    400,
                    f"Bad Request: can't parse entities: Unmatched end tag at byte offset "
                    f'{_byte_offset(text, lt)}, {expected}found "</{name}>"',
                )
            stack.pop()
        else:
            stack.append(name)
        i = m.end()
    if stack:
        raise ApiError(
            400,
            "Bad Request: can't parse entities: "
            f'Can\'t find end tag corresponding to start tag "{stack[-1]}"',
        )
    return "".join(out)


def _parse_markdown_v2(text: str) -> str:
    """Validate MarkdownV2 (approximately) and return the text shown to the user."""
    out: list[str] = []
    open_marks: Counter[str] = Counter()
    i, n = 0, len(text)
    in_link_url = False
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
            continue
        if c == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end < 0:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: Can't find end of "
                    f"{'Pre' if len(fence) == 3 else 'Code'} entity at byte offset {_byte_offset(text, i)}",
                )
            out.append(text[i + len(fence) : end].replace("\\`", "`").replace("\\\\", "\\"))
            i = end + len(fence)
            continue
        if in_link_url:
            if c == ")":
                in_link_url = False
            i += 1
            continue
        if c in _MDV2_ALWAYS_ESCAPED or (c == ">" and i > 0 and text[i - 1] != "\n"):
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Character '{c}' is reserved and must be escaped "
                "with the preceding '\\'",
            )
        if c == "(":
            if i > 0 and text[i - 1] == "]":
                in_link_url = True
                i += 1
                continue
            raise ApiError(
                400,
                "Bad Request: can't parse entities: Character '(' is reserved and must be escaped "
                "with the preceding '\\'",
            )
        if c == ")":
            raise ApiError(
                400,
                "Bad Request: can't parse entities: Character ')' is reserved and must be escaped "
                "with the preceding '\\'",
            )
        if c in "*_~|[]":
            open_marks[c] += 1
            i += 1
            continue
        if c == ">":  # blockquote at line start
            i += 1
            continue
        out.append(c)
        i += 1
    for mark, entity in (("*", "Bold"), ("_", "Italic"), ("~", "Strikethrough"), ("|", "Spoiler")):
        if open_marks[mark] % 2:
            raise ApiError(400, f"Bad Request: can't parse entities: Can't find end of {entity} entity")
    if open_marks["["] != open_marks["]"]:
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end of TextUrl entity")
    return "".join(out)
