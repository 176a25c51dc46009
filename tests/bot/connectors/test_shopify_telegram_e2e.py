"""End to end: Shopify's orders/create, the deep link by e-mail, /start in Telegram, then a delivered
fulfillment → the delivery CSAT is asked in Telegram (real aiogram against the fake Bot API)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import select

from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.processor import ProcessorConfig
from bot.connectors.jobs import connectors_component
from bot.connectors.routes import connectors_router
from bot.delivery.sender import MemoryRateLimiter, SenderConfig
from bot.engine.wiring import build_app
from bot.infra.settings import Settings
from bot.infra.supervision import Supervisor
from bot.runtime.serve import Runtime
from storage.tables import ChannelIdentity, ConnectorDelivery
from tests.bot.connectors.conftest import SECRETS, sample
from tests.bot.connectors.test_routes import shopify
from tests.clocks import RunningClock
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.smtp import SmtpHandler

TOKEN = "123456:TEST-token"
CHAT = 555_077


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(check: Any, what: str, seconds: float = 5.0) -> Any:
    for _ in range(int(seconds / 0.02)):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_order_then_delivered_fulfillment_asks_the_delivery_csat(
    tmp_path: Path, smtp: tuple[int, type[SmtpHandler]], session_clock: RunningClock
) -> None:
    """orders/create → deep-link e-mail → /start binds the chat → delivered fulfillment → CSAT asked."""
    smtp_port, mailbox = smtp
    clock: RunningClock = session_clock
    port = _free_port()
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        settings = Settings(
            telegram_api_url=api.url,
            database_url=f"sqlite:///{tmp_path / 'shop.db'}",
            telegram_token=TOKEN,
            telegram_bot_username="moka_bot",
            link_secret="link-secret-for-tests",
            http_port=port,
            quiet_hours="off",
            deep_link_email=True,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_starttls=False,
            smtp_from="shop@example.com",
            shopify_secret=SECRETS["shopify_secret"],
        )
        app = build_app(settings, clock=clock)
        supervisor = Supervisor()
        channel = TelegramChannel(
            app,
            processor=ProcessorConfig(idle_interval=0.05),
            sender=SenderConfig(idle_interval=0.05),
            limiter=MemoryRateLimiter(per_chat_interval=0.05),
            poll_timeout=1,
            supervisor=supervisor,
        )
        runtime = Runtime(app=app, due_work_interval=0.1, supervisor=supervisor, channels=[channel])
        wake = asyncio.Event()
        runtime.routers.append(connectors_router(wake))
        runtime.components.append(connectors_component(app, every=0.2, wake=wake))
        stop = asyncio.Event()
        task = asyncio.create_task(runtime.run(stop))
        await api.wait_for("setMyCommands", 3)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                body, headers = shopify("orders/create", sample("shopify_orders_create.json"), "wh-order")
                placed = await http.post("/v1/connectors/shopify", content=body, headers=headers)
                assert placed.json() == {"status": "accepted"}

                mail = await _until(lambda: mailbox.mails, "the deep-link e-mail")
                message = email.message_from_string(mail[0], policy=email.policy.default)
                assert message["To"] == "bob.norman@hostmail.com"
                text = message.get_content()
                assert text.startswith("Ciao Bob,") and "Disiscriviti" not in text and "STOP" in text
                start = re.search(r"https://t\.me/moka_bot\?start=([A-Za-z0-9_-]+)", text)
                assert start is not None

                api.push_message(CHAT, f"/start {start.group(1)}", language_code="it")

                def bound() -> bool:
                    with app.db.read() as session:
                        identity = session.exec(select(ChannelIdentity)).first()
                    return identity is not None and identity.customer_id == "207119551"

                await _until(bound, "the chat bound to the Shopify customer")

                fulfillment = sample("shopify_fulfillment.json")
                fulfillment["shipment_status"] = "delivered"  # the sample predates the field
                fulfillment["updated_at"] = (clock() - timedelta(hours=3)).isoformat()  # delivered 3 h ago
                body, headers = shopify("fulfillments/update", fulfillment, "wh-fulfillment")
                delivered = await http.post("/v1/connectors/shopify", content=body, headers=headers)
                assert delivered.json() == {"status": "accepted"}

                (question,) = await api.wait_for(
                    lambda c: (
                        c.method == "sendMessage"
                        and c.ok
                        and "reply_markup" in c.params
                        and "consegna" in c.params["text"]
                    ),
                    1,
                    timeout=6,
                )
                assert question.params["chat_id"] == CHAT
                labels = [b["text"] for b in question.params["reply_markup"]["inline_keyboard"][0]]
                assert labels == ["1", "2", "3", "4", "5"]
            with app.db.read() as session:
                statuses = [d.status for d in session.exec(select(ConnectorDelivery))]
            assert statuses == ["ok", "ok"]
            assert len(mailbox.mails) == 1  # once per order
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)
