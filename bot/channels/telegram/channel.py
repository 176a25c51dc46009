"""Assembling the Telegram channel for ``cxbot serve``: poller or webhook, inbox processor, sender."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from aiogram.types import BotCommand

from bot.channels.telegram import texts
from bot.channels.telegram.api import call, make_bot
from bot.channels.telegram.callbacks import derive_secret
from bot.channels.telegram.poller import ALLOWED_UPDATES, Poller
from bot.channels.telegram.processor import InboxProcessor, ProcessorConfig
from bot.channels.telegram.transport import CHANNEL, TelegramTransport
from bot.channels.telegram.webhook import PATH, webhook_router
from bot.escalations.telegram_desk import AgentDesk
from bot.limited_calls import LimitedAtCall, channel_limiter, limit_requests, limited_bot_call
from bot.sender import RateLimiter, Sender, SenderConfig
from bot.wiring import App
from flows.errors import ChannelError, ConfigError
from flows.scales import Lang

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger(__name__)


class TelegramChannel:
    """The Telegram parts of one ``cxbot serve`` process.

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
        # the database by several workers (bot.limited_calls, bot.rate_budget).
        self.limiter = limiter or channel_limiter(settings, app.db)
        self.bot.session.middleware(limit_requests(self.limiter))
        service = app.service
        self.processor = InboxProcessor(service, self.bot, secret, config=processor)
        self.sender = Sender(
            app.db,
            CHANNEL,
            transport := TelegramTransport(self.bot, secret),
            LimitedAtCall(self.limiter),
            clock=service.clock,
            config=sender,
        )
        self.processor.on_change = self.sender.wake.set
        # The agents' group: escalation cards out, Take/Resolve presses and replies in.
        self.desk = AgentDesk(app) if settings.agents_chat_id is not None else None
        if self.desk is not None:
            self.desk.call = limited_bot_call(self.desk.call, self.limiter)
        self.processor.desk = self.desk
        transport.desk = self.desk
        self.poller = (
            None
            if self.public_url
            else Poller(self.bot, app.db, service.clock, self.processor.wake.set, timeout=poll_timeout)
        )

    def attach(self, runtime: Runtime) -> None:
        """Add this channel's webhook route (webhook mode) and its component to ``runtime``."""
        if self.public_url and self.webhook_secret:
            runtime.routers.append(
                webhook_router(
                    self.app.db, self.webhook_secret, self.app.service.clock, self.processor.wake.set
                )
            )
        runtime.components.append(self.run)
        runtime.probes["telegram"] = self.probe

    async def probe(self) -> str:
        """Return "ok" when the Bot API answers getMe (for /readyz), else why not."""
        try:
            await call(self.bot.get_me(), "getMe")
        except ChannelError as exc:
            return f"unreachable: {exc}"[:200]
        return "ok"

    async def start(self) -> None:
        """Set the command menus (it, en, default) and the webhook (or delete it to poll)."""
        default = self.app.journey.default_language
        for language, code in ((Lang.IT, "it"), (Lang.EN, "en"), (default, None)):
            commands = [BotCommand(command=c, description=d) for c, d in texts.COMMANDS[language]]
            await call(self.bot.set_my_commands(commands, language_code=code), "setMyCommands")
        if self.public_url:
            await call(
                self.bot.set_webhook(
                    self.public_url + PATH, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
                ),
                "setWebhook",
            )
        else:
            await call(self.bot.delete_webhook(), "deleteWebhook")

    async def run(self, stop: asyncio.Event) -> None:
        """Run the poller (polling mode), the inbox processor and the sender until ``stop``."""
        try:
            try:
                await self.start()
            except ChannelError as exc:  # the menu is cosmetic; polling/sending retry on their own
                log.warning("telegram_start_failed", error=str(exc))
            parts = [self.processor.run(stop), self.sender.run(stop)]
            if self.poller is not None:
                parts.append(self.poller.run(stop))
            log.info("telegram_running", mode="polling" if self.poller else "webhook")
            await asyncio.gather(*parts)
        finally:
            with contextlib.suppress(Exception):
                await self.bot.session.close()
            if self.desk is not None:
                with contextlib.suppress(Exception):
                    await self.desk.close()
