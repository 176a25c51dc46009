"""The Telegram channels of ``cxbot serve``: the customers' chats and, when configured, the
agents' group, each with its inbox processor and its sender; one poller (or the webhook) stores
every update in the inbox of the channel it belongs to."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial

import structlog
from aiogram.types import BotCommand
from fastapi import APIRouter

from bot.channels.callbacks import derive_secret
from bot.channels.telegram import texts, undeliverable, username
from bot.channels.telegram.api import bot_call, make_bot
from bot.channels.telegram.poller import ALLOWED_UPDATES, Poller
from bot.channels.telegram.processor import AgentsProcessor, InboxProcessor, ProcessorConfig
from bot.channels.telegram.transport import CHANNEL, TelegramTransport
from bot.channels.telegram.updates import incoming
from bot.channels.telegram.webhook import PATH, webhook_router
from bot.delivery.limited_calls import channel_limiter, limit_requests, limited_bot_call
from bot.delivery.sender import RateLimiter, Sender, SenderConfig
from bot.engine.timers import due_pass
from bot.engine.wiring import App
from bot.escalations.records import AGENTS_CHANNEL
from bot.escalations.telegram_desk import AgentDesk
from bot.infra.leader import lead
from bot.infra.retry import RESTART, RetryPolicy
from bot.infra.settings import quiet_hours
from bot.infra.supervision import Component, Supervisor
from flows.errors import ChannelError, ConfigError
from flows.scales import Lang
from storage.claims import ClaimedMessage

log = structlog.get_logger(__name__)


class TelegramChannel:
    """The Telegram parts of one ``cxbot serve`` process, assembled from their constructors.

    What the runtime serves: ``run`` (one component, running every part under ``supervisor``),
    ``routers`` (the webhook, in webhook mode) and ``probes`` (for /readyz).

    Raises:
        ConfigError: without CXBOT_TELEGRAM_TOKEN, or in webhook mode without CXBOT_WEBHOOK_SECRET.
    """

    def __init__(
        self,
        app: App,
        *,
        processor: ProcessorConfig | None = None,
        sender: SenderConfig | None = None,
        limiter: RateLimiter | None = None,
        poll_timeout: int = 25,
        start_retry: RetryPolicy = RESTART,
        supervisor: Supervisor | None = None,
    ) -> None:
        settings = app.settings
        if settings.telegram_token is None:
            raise ConfigError("CXBOT_TELEGRAM_TOKEN is not set")
        token = settings.telegram_token.get_secret_value()
        self.app = app
        self.webhook_secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        self.public_url = settings.public_url.rstrip("/") if settings.public_url else None
        if self.public_url and not self.webhook_secret:
            raise ConfigError("CXBOT_WEBHOOK_SECRET is required when CXBOT_PUBLIC_URL is set")
        link_secret = settings.link_secret.get_secret_value() if settings.link_secret else None
        secret = derive_secret(link_secret, token)
        self.bot = make_bot(token, settings.telegram_api_url)
        # Every call that counts against Telegram's limits waits for the limiter, shared through
        # the database by several workers (bot.delivery.limited_calls, bot.delivery.rate_budget).
        self.limiter = limiter or channel_limiter(settings, app.db)
        self.bot.session.middleware(limit_requests(self.limiter))
        service = app.service
        clock = service.clock
        #: Runs every part; the runtime's, so /readyz shows each part's health.
        self.supervisor = supervisor or Supervisor()
        self.start_retry = start_retry
        self._due: set[asyncio.Task[None]] = set()
        # The customers' chats: their inbox processor and their sender.
        agents = settings.agents_chat_id is not None
        self.processor = InboxProcessor(service, self.bot, secret, config=processor, relay_to_agents=agents)
        transport = TelegramTransport(self.bot, secret)
        self.sender = Sender(app.db, CHANNEL, transport, self.limiter, clock=clock, config=sender)
        self.processor.on_change = self.sender.wake.set
        self.processor.on_due = self._due_now
        # The agents' group, a channel of its own: escalation cards out, presses and replies in.
        self.desk = AgentDesk(app, limited_bot_call(bot_call(self.bot), self.limiter)) if agents else None
        self.agents: AgentsProcessor | None = None
        self.agents_sender: Sender | None = None
        if self.desk is not None:
            self.agents = AgentsProcessor(app.db, clock, self.desk, config=processor)
            self.agents_sender = Sender(
                app.db, AGENTS_CHANNEL, self.desk, self.limiter, clock=clock, config=sender
            )
            self.agents.on_change = self.agents_sender.wake.set
            self.sender.on_undeliverable = self._undeliverable
            self.processor.on_member = self._member_changed
        route = partial(incoming, agents_chat=settings.agents_chat_id)
        self.poller = (
            None
            if self.public_url
            else Poller(self.bot, app.db, clock, self._stored, timeout=poll_timeout, route=route)
        )
        self.routers: list[APIRouter] = []
        if self.public_url and self.webhook_secret:
            self.routers.append(webhook_router(app.db, self.webhook_secret, clock, self._stored, route=route))
        self.probes = {"telegram": self.probe}
        if self.poller is not None:
            self.probes["task:telegram.polling"] = self.poller_probe

    def _stored(self) -> None:
        """New updates are in the inboxes: wake the processors."""
        self.processor.wake.set()
        if self.agents is not None:
            self.agents.wake.set()

    def _due_now(self) -> None:
        """A chat was just (re)started: run a due-work pass now (its waiting survey goes at once,
        not at the next tick), then wake the sender (the question is in the outbox)."""

        async def run() -> None:
            await due_pass(self.app.service, quiet_hours(self.app.settings))
            self.sender.wake.set()

        with contextlib.suppress(RuntimeError):  # no running loop: the next tick does it
            task = asyncio.get_running_loop().create_task(run())
            self._due.add(task)
            task.add_done_callback(self._due.discard)

    def _undeliverable(self, message: ClaimedMessage, why: str) -> None:
        if self.desk is None:
            return
        if message.kind in ("message", "edit", "copy") and not message.address.startswith("-"):
            key = "" if why == "blocked" else str(message.id)
            now = self.app.service.clock()
            undeliverable.tell_agents(self.app.db, message.address, why, now, self.desk.config, key=key)

    def _member_changed(self, chat: str, blocked: bool) -> None:
        if self.desk is None:
            return
        now = self.app.service.clock()
        what = "blocked" if blocked else "unblocked"
        undeliverable.tell_agents(self.app.db, chat, what, now, self.desk.config, key=now.isoformat())

    async def probe(self) -> str:
        """Return "ok" when the Bot API answers getMe, else why not (/readyz detail: an outage of
        Telegram's, or of the network to it, does not make this process unready)."""
        try:
            await self.bot.get_me()
        except ChannelError as exc:
            return f"unreachable: {exc}"[:200]
        if self.poller is not None and self.poller.stalled():
            return f"polling stalled by Bot API errors: {self.poller.last_error}"[:200]
        return "ok"

    async def poller_probe(self) -> str:
        """Return "ok" unless the poller hangs: no ``getUpdates`` answered, and none failed, for
        longer than the long poll plus a margin (a stall caused by Bot API errors is ``probe``'s)."""
        poller = self.poller
        if poller is None or not poller.stalled() or poller.last_error is not None:
            return "ok"
        return f"stalled: no getUpdates answer for {poller.silent_for():.0f} s"

    async def start(self) -> None:
        """Set the command menus (it, en, default) and the webhook (or delete it to poll).

        Raises:
            ChannelError: when the Bot API fails (see ``start_with_retries``).
        """
        # First, so deep links work as soon as possible without CXBOT_TELEGRAM_BOT_USERNAME.
        me = await self.bot.get_me()
        username.remember(self.app.settings, me.username)
        default = self.app.journey.default_language
        for language, code in ((Lang.IT, "it"), (Lang.EN, "en"), (default, None)):
            commands = [BotCommand(command=c, description=d) for c, d in texts.COMMANDS[language]]
            await self.bot.set_my_commands(commands, language_code=code)
        if self.public_url:
            await self.bot.set_webhook(
                self.public_url + PATH, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
            )
        else:
            await self.bot.delete_webhook()

    async def start_with_retries(self, stop: asyncio.Event) -> bool:
        """Run ``start`` until it succeeds, waiting as ``start_retry`` says (or as long as Telegram
        asks); False when stopped first.

        Telegram stays on: the processor and the sender run meanwhile; polling starts once the
        webhook is deleted (Telegram refuses ``getUpdates`` while one is set).
        """
        failures = 0
        while not stop.is_set():
            try:
                await self.start()
            except ChannelError as exc:
                failures += 1
                wait = exc.retry_after if exc.retry_after is not None else self.start_retry.wait(failures)
                (log.warning if failures == 1 else log.info)(
                    "telegram_start_failed", error=str(exc), failures=failures, retry_in=wait
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                continue
            if failures:
                log.info("telegram_started", after_failures=failures)
            return True
        return False

    async def _start_then_poll(self, stop: asyncio.Event) -> None:
        if not await self.start_with_retries(stop):
            return
        if self.poller is not None:
            # Telegram allows one getUpdates client per bot: across workers only the leader polls.
            lease = f"telegram-poller:{self.bot.id}"
            polling = lead(self.app.db, lease, self.poller.run, self.app.service.clock)
            await self.supervisor.run("telegram.poller", polling, stop)
        else:
            await stop.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Run the start-up, the poller (polling mode), each channel's inbox processor and sender
        until ``stop``, each supervised (restarted with backoff when it crashes)."""
        log.info(
            "telegram_running", mode="polling" if self.poller else "webhook", agents=self.desk is not None
        )
        parts: dict[str, Component] = {
            "telegram.processor": self.processor.run,
            "telegram.sender": self.sender.run,
            "telegram.start": self._start_then_poll,
        }
        if self.agents is not None and self.agents_sender is not None:
            parts["telegram.agents.processor"] = self.agents.run
            parts["telegram.agents.sender"] = self.agents_sender.run
        try:
            await asyncio.gather(*(self.supervisor.run(name, part, stop) for name, part in parts.items()))
        finally:
            if stop.is_set():  # a crash is restarted by the supervisor: keep the session open
                with contextlib.suppress(Exception):
                    await self.bot.session.close()
