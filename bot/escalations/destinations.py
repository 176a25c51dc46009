"""Other places escalations go, through the outbox with retries: a helpdesk webhook and e-mail.

Helpdesk: ``POST`` of a JSON summary to ``CXBOT_HELPDESK_WEBHOOK_URL``, signed with HMAC-SHA256
of the raw body in ``X-Cxbot-Signature: sha256=<hex>``. E-mail: plain text over SMTP
(``CXBOT_SMTP_*``). Both are optional; ``deliver_destinations`` is what the runtime schedules.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import structlog
from sqlmodel import Session

from bot.escalations.records import DeskConfig
from bot.leader import WORKER_ID
from bot.mail import send_mail
from bot.settings import Settings
from flows.errors import ChannelError, ConfigError
from storage import repo
from storage.claims import claim_outbox, finish_message
from storage.db import Database
from storage.tables import Escalation

log = structlog.get_logger(__name__)

CHANNELS = ("helpdesk", "email")
MAX_ATTEMPTS = 8


def summary(escalation: Escalation) -> dict[str, Any]:
    """Return the JSON summary of an escalation sent to the helpdesk and by e-mail."""
    return {
        "escalation_id": escalation.id,
        "priority": escalation.priority,
        "status": escalation.status,
        "customer_id": escalation.customer_id,
        "order_id": escalation.order_id,
        "stage": escalation.stage,
        "metric": escalation.metric,
        "score": escalation.score,
        "texts": list(escalation.texts),
        "topics": list(escalation.topics),
        "opened_at": escalation.opened_at.isoformat(),
        "sla_due_at": escalation.sla_due_at.isoformat() if escalation.sla_due_at else None,
    }


def enqueue(session: Session, escalation: Escalation, config: DeskConfig, now: datetime) -> None:
    """Queue the new escalation for the configured destinations (once each)."""
    for channel, enabled in (("helpdesk", config.helpdesk), ("email", config.email)):
        if enabled:
            repo.enqueue_message(
                session,
                channel=channel,
                address=channel,
                kind="escalation",
                payload=summary(escalation),
                now=now,
                customer_id=escalation.customer_id,
                dedupe_key=f"{channel}:esc:{escalation.id}",
            )


def sign(secret: str, body: bytes) -> str:
    """Return the ``X-Cxbot-Signature`` header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_helpdesk(settings: Settings, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """POST the escalation to the helpdesk webhook.

    Raises:
        ConfigError: when no webhook URL is configured.
        ChannelError: on failure (``permanent`` for 4xx other than 408/429).
    """
    if not settings.helpdesk_webhook_url:
        raise ConfigError("CXBOT_HELPDESK_WEBHOOK_URL is not set")
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if settings.helpdesk_webhook_secret:
        headers["X-Cxbot-Signature"] = sign(settings.helpdesk_webhook_secret.get_secret_value(), body)
    try:
        response = httpx.post(settings.helpdesk_webhook_url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ChannelError(f"helpdesk webhook unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise ChannelError(f"helpdesk webhook answered {response.status_code}", permanent=permanent)


def _email(settings: Settings, payload: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = (
        f"[cxbot] {str(payload.get('priority', '')).upper()} escalation #{payload.get('escalation_id')}"
        f" — {payload.get('customer_id')}"
    )
    message["From"] = settings.smtp_from or "cxbot@localhost"
    message["To"] = ", ".join(a.strip() for a in (settings.smtp_to or "").split(",") if a.strip())
    lines = [f"{key}: {value}" for key, value in payload.items() if key != "texts"]
    lines += ["", *(f"> {text}" for text in payload.get("texts", []))]
    message.set_content("\n".join(lines))
    return message


def deliver_email(settings: Settings, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """Send the escalation by e-mail.

    Raises:
        ConfigError: when SMTP is not configured.
        ChannelError: on failure (``permanent`` when the server refuses for good, 5xx).
    """
    if not settings.smtp_host or not settings.smtp_to:
        raise ConfigError("CXBOT_SMTP_HOST and CXBOT_SMTP_TO must be set")
    send_mail(settings, _email(settings, payload), timeout=timeout)


_DELIVER = {"helpdesk": deliver_helpdesk, "email": deliver_email}


def deliver_destinations(
    db: Database, settings: Settings, now: datetime, *, owner: str = WORKER_ID, limit: int = 20
) -> dict[str, int]:
    """Deliver pending helpdesk/e-mail messages; retry with backoff; return counts by outcome."""
    counts: dict[str, int] = {}
    for message in claim_outbox(db, owner, now, channels=CHANNELS, limit=limit):
        try:
            _DELIVER[message.channel](settings, dict(message.payload))
        except (ChannelError, ConfigError) as exc:
            permanent = isinstance(exc, ConfigError) or exc.permanent or message.attempts >= MAX_ATTEMPTS
            retry = None if permanent else now + timedelta(minutes=min(2 ** (message.attempts - 1), 60))
            finish_message(db, message.id, now, sent=False, error=str(exc), retry_at=retry)
            log.warning("destination_failed", channel=message.channel, id=message.id, permanent=permanent)
            outcome = "failed" if permanent else "retry"
        else:
            finish_message(db, message.id, now, sent=True)
            outcome = "sent"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
