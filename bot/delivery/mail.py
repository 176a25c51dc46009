"""E-mail for every outbox channel that writes one (escalations, deep links): one SMTP send,
failures translated once, one transport for the outbox sender."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from bot.infra.settings import Settings
from flows.errors import Permanent, Transient
from storage.claims import ClaimedMessage

#: Builds the e-mail of an outbox payload; raises ``Permanent`` when it cannot be written.
Compose = Callable[[Settings, dict[str, Any]], EmailMessage]


def send_mail(settings: Settings, message: EmailMessage, *, timeout: float = 10.0) -> None:
    """Send ``message`` through the configured SMTP server.

    Raises:
        Permanent: SMTP is not configured, or the server refuses for good (5xx, recipients).
        Transient: the server is unreachable or answers 4xx (try again later).
    """
    if not settings.smtp_host:
        raise Permanent("CXBOT_SMTP_HOST is not set")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user and settings.smtp_password:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise Permanent(f"SMTP answered {exc.smtp_code}") from exc
        raise Transient(f"SMTP answered {exc.smtp_code}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise Permanent("SMTP refused the recipient") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise Transient(f"SMTP failed: {type(exc).__name__}") from exc


class MailTransport:
    """Delivers outbox messages as the e-mails ``compose`` writes from their payloads."""

    def __init__(self, settings: Settings, compose: Compose, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self.compose = compose
        self.timeout = timeout

    async def deliver(self, message: ClaimedMessage) -> None:
        """Compose and send one e-mail (in a thread: smtplib blocks).

        Raises:
            Permanent, Transient: see ``send_mail``.
        """
        mail = self.compose(self.settings, dict(message.payload))
        await asyncio.to_thread(send_mail, self.settings, mail, timeout=self.timeout)
