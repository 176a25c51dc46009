"""Proactive messages on Rasa channels: outbox rows of channel "rasa" become ``trigger_intent`` calls.

For each message, cxbot asks the shop's Rasa server to run intent ``cxbot_survey_due`` in the
customer's conversation (``POST /conversations/{sender}/trigger_intent?output_channel=…``) with the
message's outbox id as entity; Rasa's rule runs cxbot's ask action, which answers with that message
and its buttons, and Rasa delivers it on the customer's channel (WhatsApp, Messenger, Slack…).
The one outbox sender does the rest: network errors, 429 and 5xx are retried with backoff (policy
``RASA``), any other answer makes the message a dead letter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from bot.channels.rasa.bridge import CHANNEL
from bot.channels.rasa.messages import MESSAGE_ENTITY, SURVEY_ENTITY, TRIGGER_INTENT
from bot.delivery.sender import Sender, SenderConfig, http_failure, network_failure
from bot.engine.wiring import App
from bot.infra.leader import WORKER_ID
from bot.infra.retry import RASA
from bot.infra.settings import Settings
from storage.claims import ClaimedMessage

log = structlog.get_logger(__name__)

OWNER = f"{WORKER_ID}:rasa"


def trigger_request(
    message: ClaimedMessage, output_channel: str
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Return (path, JSON body, query params) of the trigger_intent call for ``message``."""
    entities: dict[str, Any] = {MESSAGE_ENTITY: str(message.id)}
    survey_id = message.payload.get("survey_id")
    if isinstance(survey_id, int):
        entities[SURVEY_ENTITY] = str(survey_id)
    path = f"/conversations/{quote(message.address, safe='')}/trigger_intent"
    return path, {"name": TRIGGER_INTENT, "entities": entities}, {"output_channel": output_channel}


class RasaTransport:
    """Delivers a "rasa" outbox message as a trigger_intent call on ``client`` (Rasa's base URL)."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.output_channel = settings.rasa_output_channel
        self.token = settings.rasa_token.get_secret_value() if settings.rasa_token is not None else None

    async def deliver(self, message: ClaimedMessage) -> None:
        """Post the message's trigger.

        Raises:
            Transient: network errors, 408, 429 and 5xx; RetryAfter: 429 with Retry-After;
            Permanent: any other answer that is not a success.
        """
        path, body, params = trigger_request(message, self.output_channel)
        if self.token is not None:
            params["token"] = self.token
        try:
            reply = await self.client.post(path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise network_failure(exc, "network") from exc
        log.info("rasa_trigger", message_id=message.id, status=reply.status_code, attempts=message.attempts)
        if reply.status_code >= 300:
            raise http_failure(
                reply.status_code, f"http {reply.status_code}", retry_after=reply.headers.get("Retry-After")
            )


def rasa_sender(
    app: App,
    *,
    interval: float = 1.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """Return the runtime component delivering channel "rasa" outbox messages until ``stop`` is set.

    Raises (when called):
        ConfigError: when ``CXBOT_RASA_URL`` is not set.
    """
    from flows.errors import ConfigError

    if not app.settings.rasa_url:
        raise ConfigError("CXBOT_RASA_URL is required to deliver messages through Rasa")
    base_url = app.settings.rasa_url.rstrip("/")
    config = SenderConfig(batch=20, concurrency=20, idle_interval=interval, retry=RASA)

    async def run(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=15.0, transport=transport) as client:
            sender = Sender(
                app.db,
                CHANNEL,
                RasaTransport(client, app.settings),
                clock=app.service.clock,
                config=config,
                owner=OWNER,
            )
            await sender.run(stop)

    return run
