"""Proactive messages on Rasa channels: outbox rows of channel "rasa" become ``trigger_intent`` calls.

For each message, cxbot asks the shop's Rasa server to run intent ``cxbot_survey_due`` in the
customer's conversation (``POST /conversations/{sender}/trigger_intent?output_channel=…``) with the
message's outbox id as entity; Rasa's rule runs cxbot's ask action, which answers with that message
and its buttons, and Rasa delivers it on the customer's channel (WhatsApp, Messenger, Slack…).
Network errors and 5xx/429 are retried with backoff; any other 4xx fails the message for good.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from bot.channels.rasa.bridge import CHANNEL
from bot.channels.rasa.messages import MESSAGE_ENTITY, SURVEY_ENTITY, TRIGGER_INTENT
from bot.leader import WORKER_ID
from bot.wiring import App
from storage.claims import ClaimedMessage, claim_outbox, finish_message

log = structlog.get_logger(__name__)

OWNER = f"{WORKER_ID}:rasa"
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> timedelta:
    """Return the wait before retry number ``attempts`` (5 s doubling, at most 10 minutes)."""
    return timedelta(seconds=min(600, 5 * 2 ** max(0, attempts - 1)))


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


async def deliver_one(client: httpx.AsyncClient, app: App, message: ClaimedMessage, now: datetime) -> str:
    """Post one message's trigger and record the outcome; return "sent", "retry" or "failed"."""
    settings = app.settings
    path, body, params = trigger_request(message, settings.rasa_output_channel)
    if settings.rasa_token is not None:
        params["token"] = settings.rasa_token.get_secret_value()
    try:
        reply = await client.post(path, json=body, params=params)
    except httpx.HTTPError as exc:
        error = f"network: {type(exc).__name__}"
        status = None
    else:
        status = reply.status_code
        error = f"http {status}"
    if status is not None and status < 300:
        outcome, retry_at = "sent", None
    elif (status is None or status >= 500 or status == 429) and message.attempts < MAX_ATTEMPTS:
        outcome, retry_at = "retry", now + backoff(message.attempts)
    else:
        outcome, retry_at = "failed", None
    await asyncio.to_thread(
        finish_message, app.db, message.id, now, sent=outcome == "sent", error=error, retry_at=retry_at
    )
    log.info("rasa_trigger", message_id=message.id, outcome=outcome, status=status, attempts=message.attempts)
    return outcome


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

    async def run(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=15.0, transport=transport) as client:
            while not stop.is_set():
                now = app.service.clock()
                batch = await asyncio.to_thread(
                    claim_outbox, app.db, OWNER, now, channels=(CHANNEL,), limit=20
                )
                # Different chats in parallel; one chat's messages stay in order (one per claim).
                results = await asyncio.gather(
                    *(deliver_one(client, app, m, now) for m in batch), return_exceptions=True
                )
                for result in results:
                    if isinstance(result, BaseException):
                        # The lease expires and the message is claimed again later.
                        log.error("rasa_trigger_crashed", error=type(result).__name__)
                if batch:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    return run
