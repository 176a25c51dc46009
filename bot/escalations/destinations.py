"""Other places escalations go, through the outbox and its one sender: a helpdesk webhook and e-mail.

Helpdesk: ``POST`` of a JSON summary to ``CXBOT_HELPDESK_WEBHOOK_URL``, signed with HMAC-SHA256
of the raw body in ``X-Cxbot-Signature: sha256=<hex>``. E-mail: plain text over SMTP
(``CXBOT_SMTP_*``). Both are optional; ``destination_senders`` are what the runtime runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from bot.delivery.mail import MailTransport
from bot.delivery.sender import Sender, SenderConfig, http_failure, network_failure
from bot.escalations.records import DeskConfig
from bot.infra.clock import Clock
from bot.infra.leader import WORKER_ID
from bot.infra.retry import SERVICES
from bot.infra.settings import Settings
from flows.errors import Permanent
from storage import repo
from storage.claims import ClaimedMessage
from storage.db import Database, Session
from storage.tables import Escalation


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


class HelpdeskTransport:
    """POSTs "helpdesk" outbox messages (escalation summaries) to the helpdesk webhook, signed."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout

    async def deliver(self, message: ClaimedMessage) -> None:
        """POST the escalation summary.

        Raises:
            Permanent: no webhook URL, or a 4xx other than 408/429.
            Transient, RetryAfter: unreachable, 408, 429 or 5xx.
        """
        settings = self.settings
        if not settings.helpdesk_webhook_url:
            raise Permanent("CXBOT_HELPDESK_WEBHOOK_URL is not set")
        body = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if settings.helpdesk_webhook_secret:
            headers["X-Cxbot-Signature"] = sign(settings.helpdesk_webhook_secret.get_secret_value(), body)
        import httpx  # here: ~5 MiB that a process without this destination never needs

        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(settings.helpdesk_webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise network_failure(exc, "helpdesk webhook unreachable") from exc
        if response.status_code >= 300:
            answered = f"helpdesk webhook answered {response.status_code}"
            raise http_failure(
                response.status_code, answered, retry_after=response.headers.get("Retry-After")
            )


def escalation_mail(settings: Settings, payload: dict[str, Any]) -> EmailMessage:
    """Return the e-mail of an escalation summary.

    Raises:
        Permanent: when CXBOT_SMTP_TO is not set.
    """
    recipients = [a.strip() for a in (settings.smtp_to or "").split(",") if a.strip()]
    if not recipients:
        raise Permanent("CXBOT_SMTP_TO is not set")
    message = EmailMessage()
    message["Subject"] = (
        f"[cxbot] {str(payload.get('priority', '')).upper()} escalation #{payload.get('escalation_id')}"
        f" — {payload.get('customer_id')}"
    )
    message["From"] = settings.smtp_from or "cxbot@localhost"
    message["To"] = ", ".join(recipients)
    lines = [f"{key}: {value}" for key, value in payload.items() if key != "texts"]
    lines += ["", *(f"> {text}" for text in payload.get("texts", []))]
    message.set_content("\n".join(lines))
    return message


def destination_senders(
    db: Database, settings: Settings, clock: Clock, *, every: float = 10.0, owner: str = WORKER_ID
) -> list[Sender]:
    """Return the outbox senders of the helpdesk webhook and e-mail (policy ``SERVICES``)."""
    config = SenderConfig(batch=20, concurrency=5, idle_interval=every, retry=SERVICES)
    return [
        Sender(db, "helpdesk", HelpdeskTransport(settings), clock=clock, config=config, owner=owner),
        Sender(
            db, "email", MailTransport(settings, escalation_mail), clock=clock, config=config, owner=owner
        ),
    ]


async def deliver_destinations(
    db: Database, settings: Settings, now: datetime, *, owner: str = WORKER_ID
) -> dict[str, int]:
    """Deliver one batch of the helpdesk and e-mail messages due at ``now`` (a chat's oldest each);
    return how many ended each way."""
    counts: Counter[str] = Counter()
    for sender in destination_senders(db, settings, lambda: now, owner=owner):
        counts.update(await sender.send_batch())
    return dict(counts)
