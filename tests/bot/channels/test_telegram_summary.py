"""The managers' weekly summary reaches Telegram as HTML messages and a chart photo."""

from __future__ import annotations

import base64
from pathlib import Path

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.transport import TelegramTransport
from storage.claims import ClaimedMessage
from tests.fakes.bot_api import FakeBotAPI

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


async def test_html_and_photo_kinds_are_delivered() -> None:
    """Outbox kinds 'html' and 'photo' become sendMessage with parse_mode HTML and sendPhoto with the PNG."""
    async with FakeBotAPI() as api:
        bot = make_bot("123456:" + "A" * 35, api.url)
        transport = TelegramTransport(bot, b"k" * 32)
        try:
            text = ClaimedMessage(
                1, "telegram", "-100777", "html", {"text": "<b>Week 2026-W46</b> NPS +31"}, 1
            )
            photo = ClaimedMessage(
                2,
                "telegram",
                "-100777",
                "photo",
                {"png": PNG, "caption": "cxbot 2026-W46", "filename": "w.png"},
                1,
            )
            assert (await transport.deliver(text))["message_id"]
            assert (await transport.deliver(photo))["message_id"]
        finally:
            await bot.session.close()
        (message,) = api.sent_messages(chat_id=-100777)
        assert message["parse_mode"] == "HTML" and message["text"].startswith("<b>Week")
        (sent_photo,) = api.calls_of("sendPhoto")
        assert sent_photo.params["caption"] == "cxbot 2026-W46"
        assert sent_photo.params["photo"].data.startswith(b"\x89PNG")


async def test_readyz_reports_telegram_reachability(tmp_path: Path) -> None:
    """/readyz reports the Telegram probe: ok while getMe answers; during an outage the reason, still 200
    (a Telegram outage must not make a load balancer drop the events API)."""
    import httpx

    from bot.api.app import create_api
    from bot.channels.telegram.channel import TelegramChannel
    from bot.engine.wiring import build_app
    from bot.infra.settings import Settings

    async with FakeBotAPI() as api:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'r.db'}",
            telegram_token="123456:" + "A" * 35,
            telegram_api_url=api.url,
        )
        app = build_app(settings)
        channel = TelegramChannel(app)
        web = create_api(app)
        web.state.probes = {"telegram": channel.probe}
        transport = httpx.ASGITransport(app=web)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://cxbot") as client:
                ready = await client.get("/readyz")
                api.set_outage(5)
                down = await client.get("/readyz")
        finally:
            await channel.bot.session.close()
        assert ready.status_code == 200 and ready.json()["channels"]["telegram"] == "ok"
        assert down.status_code == 200 and down.json()["channels"]["telegram"].startswith("unreachable")
        assert down.json()["checks"] == {"database": "ok", "migrations": "ok"}
