"""Helpdesk webhook (signed JSON) and e-mail (SMTP) copies of escalations, through the outbox with retries."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
from sqlmodel import select

from bot.engine.service import Service
from bot.escalations.destinations import deliver_destinations
from storage.tables import OutboxMessage
from tests.bot.escalations.conftest import detractor, make_app, make_settings
from tests.clocks import FakeClock
from tests.fakes.smtp import SmtpHandler, serve_smtp
from tests.fakes.webhook import WebhookHandler, serve_webhook

SECRET = "hd-secret"


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[WebhookHandler]]]:
    """Yield the URL of a loopback webhook receiver that fails once with 503."""
    with serve_webhook(503) as served:
        yield served


@pytest.fixture
def smtp() -> Iterator[tuple[int, type[SmtpHandler]]]:
    """Yield the port of a loopback fake SMTP server."""
    with serve_smtp() as served:
        yield served


async def test_helpdesk_and_email_with_retry(
    service: Service,
    clock: FakeClock,
    webhook: tuple[str, type[WebhookHandler]],
    smtp: tuple[int, type[SmtpHandler]],
) -> None:
    """A new escalation is POSTed signed to the helpdesk (retried after a 503) and e-mailed once."""
    url, hook = webhook
    port, mail = smtp
    settings = make_settings(
        helpdesk_webhook_url=url,
        helpdesk_webhook_secret=SECRET,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_to="support@example.com",
        smtp_from="cxbot@example.com",
    )
    make_app(service, settings)
    detractor(service, clock)
    first = await deliver_destinations(service.db, settings, clock.now)
    assert first == {"retry": 1, "sent": 1}
    assert len(mail.mails) == 1 and "P1 escalation" in mail.mails[0] and "c-42" in mail.mails[0]
    assert await deliver_destinations(service.db, settings, clock.now) == {}  # not before the backoff
    second = await deliver_destinations(service.db, settings, clock.advance(minutes=2))
    assert second == {"sent": 1}
    payload, signature = hook.received[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), hook.last_body, hashlib.sha256).hexdigest()
    assert signature == expected
    assert (payload["priority"], payload["order_id"], payload["score"]) == ("p1", "1001", 1)
    with service.db.read() as session:
        rows = [m for m in session.exec(select(OutboxMessage)) if m.channel in ("helpdesk", "email")]
    assert sorted(m.status for m in rows) == ["sent", "sent"]
    assert await deliver_destinations(service.db, settings, clock.advance(hours=1)) == {}
