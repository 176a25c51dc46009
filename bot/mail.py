"""One SMTP send for every e-mail cxbot writes (escalations, deep links), failures translated once."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from bot.settings import Settings
from flows.errors import ChannelError, ConfigError


def send_mail(settings: Settings, message: EmailMessage, *, timeout: float = 10.0) -> None:
    """Send ``message`` through the configured SMTP server.

    Raises:
        ConfigError: when SMTP is not configured.
        ChannelError: on failure (``permanent`` when the server refuses for good, 5xx).
    """
    if not settings.smtp_host:
        raise ConfigError("CXBOT_SMTP_HOST is not set")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user and settings.smtp_password:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise ChannelError(f"SMTP answered {exc.smtp_code}", permanent=exc.smtp_code >= 500) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise ChannelError("SMTP refused the recipient", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"SMTP failed: {type(exc).__name__}") from exc
