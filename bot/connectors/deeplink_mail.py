"""The deep link by e-mail: a customer with no chat yet gets the Telegram link once per order.

Only with ``CXBOT_DEEP_LINK_EMAIL`` and SMTP configured, in the customer's language, through the
outbox (channel ``customer_email``, dedupe key per order: once per order however many events
arrive). Every e-mail ends with an unsubscribe line: a signed link (``CXBOT_PUBLIC_URL`` and
``CXBOT_LINK_SECRET`` set) that opts the customer out, else "reply STOP".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from email import policy
from email.message import EmailMessage
from typing import Any

from bot.engine.wiring import App
from bot.infra.settings import Settings
from storage import customers, repo
from storage.links import deep_link

CHANNEL = "customer_email"

_TEXTS = {
    "it": {
        "subject": "Il tuo ordine {order}: ci dici com'è andata?",
        "hello": "Ciao {name},",
        "hello_anonymous": "Ciao,",
        "body": (
            "grazie per l'ordine {order}. Per migliorare il nostro servizio ti faremo una o due domande "
            "veloci su Telegram, nei momenti giusti (per esempio alla consegna).\n"
            "Per iniziare apri questo link e premi «Avvia»:\n{link}"
        ),
        "unsubscribe_link": "Non vuoi ricevere altri messaggi? Disiscriviti qui: {url}",
        "unsubscribe_reply": "Non vuoi ricevere altri messaggi? Rispondi a questa e-mail scrivendo STOP.",
    },
    "en": {
        "subject": "Your order {order}: how did it go?",
        "hello": "Hi {name},",
        "hello_anonymous": "Hi,",
        "body": (
            "thank you for your order {order}. To help us improve, we'll ask you one or two quick "
            "questions on Telegram at the right moments (for example when it arrives).\n"
            "To start, open this link and press Start:\n{link}"
        ),
        "unsubscribe_link": "Don't want any more messages? Unsubscribe here: {url}",
        "unsubscribe_reply": "Don't want any more messages? Reply to this e-mail with STOP.",
    },
}


def _unsubscribe_mac(secret: str, customer_id: str) -> str:
    return hmac.new(secret.encode(), b"unsubscribe:" + customer_id.encode(), hashlib.sha256).hexdigest()[:32]


def unsubscribe_token(secret: str, customer_id: str) -> str:
    """Return the signed, stateless token of a customer's unsubscribe link."""
    encoded = base64.urlsafe_b64encode(customer_id.encode()).decode().rstrip("=")
    return f"{encoded}.{_unsubscribe_mac(secret, customer_id)}"


def read_unsubscribe_token(secret: str, token: str) -> str | None:
    """Return the customer of a valid unsubscribe token, None for a forged or malformed one."""
    encoded, _, mac = token.partition(".")
    try:
        customer_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not customer_id or not hmac.compare_digest(_unsubscribe_mac(secret, customer_id), mac):
        return None
    return customer_id


def enabled(settings: Settings) -> bool:
    """Return True when deep-link e-mails are on and SMTP is configured."""
    return bool(settings.deep_link_email and settings.smtp_host)


def compose(settings: Settings, payload: dict[str, Any]) -> EmailMessage:
    """Return the e-mail for an outbox payload (language, name, order, link, unsubscribe URL);
    ``bot.delivery.mail.MailTransport`` sends it."""
    texts = _TEXTS.get(str(payload.get("language")), _TEXTS["it"])
    name, order = payload.get("name"), payload.get("order")
    # Long headers (the unsubscribe URL) stay on one line instead of becoming encoded words.
    message = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    message["Subject"] = texts["subject"].format(order=order)
    message["From"] = settings.smtp_from or "cxbot@localhost"
    message["To"] = str(payload["to"])
    unsubscribe = payload.get("unsubscribe_url")
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        closing = texts["unsubscribe_link"].format(url=unsubscribe)
    else:
        closing = texts["unsubscribe_reply"]
    hello = texts["hello"].format(name=name) if name else texts["hello_anonymous"]
    body = texts["body"].format(order=order, link=payload["link"])
    message.set_content(f"{hello}\n{body}\n\n--\n{closing}\n")
    return message


def enqueue_deep_link_mail(app: App, customer_id: str, order_id: str, token: str, now: datetime) -> bool:
    """Queue the deep-link e-mail for an order (once per order); return True when queued."""
    settings = app.settings
    link = deep_link(settings.telegram_bot_username, token)
    if not enabled(settings) or link is None:
        return False
    with app.db.write() as session:
        customer = customers.find(session, customer_id)
        if customer is None or customer.opted_out or customer.erased_at is not None:
            return False
        email = customers.email_of(session, customer_id)
        if email is None:
            return False
        unsubscribe = None
        if settings.public_url and settings.link_secret:
            token_value = unsubscribe_token(settings.link_secret.get_secret_value(), customer_id)
            unsubscribe = f"{settings.public_url.rstrip('/')}/v1/connectors/unsubscribe/{token_value}"
        repo.enqueue_message(
            session,
            channel=CHANNEL,
            address=email,
            kind="deep_link",
            payload={
                "to": email,
                "language": customer.language,
                "name": customer.name,
                "order": order_id,
                "link": link,
                "unsubscribe_url": unsubscribe,
            },
            now=now,
            customer_id=customer_id,
            dedupe_key=f"deeplink-mail:{order_id}"[:128],
        )
    return True
