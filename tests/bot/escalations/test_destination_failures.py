"""The helpdesk webhook's and e-mail's transports name each failure once, through loopback fakes."""

from __future__ import annotations

import pytest

from bot.delivery.mail import MailTransport
from bot.escalations.destinations import HelpdeskTransport, escalation_mail
from flows.errors import ChannelError, Permanent, RetryAfter, Transient
from storage.claims import ClaimedMessage
from tests.bot.escalations.conftest import make_settings
from tests.fakes.smtp import serve_smtp
from tests.fakes.webhook import serve_webhook

SUMMARY = {"escalation_id": 7, "priority": "p1", "customer_id": "c-42", "texts": ["rotto"]}


def _message(channel: str) -> ClaimedMessage:
    return ClaimedMessage(9, channel, channel, "escalation", dict(SUMMARY), 1)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (503, Transient),
        (502, Transient),
        (408, Transient),
        (429, Transient),
        ((429, {"Retry-After": "120"}), RetryAfter),
        (400, Permanent),
        (410, Permanent),
    ],
)
async def test_helpdesk_webhook_answers_are_named(
    answer: int | tuple[int, dict[str, str]], expected: type[ChannelError]
) -> None:
    """5xx, 408 and 429 are temporary (429 with Retry-After waits that long), other 4xx permanent."""
    with serve_webhook(answer) as (url, hook):
        transport = HelpdeskTransport(make_settings(helpdesk_webhook_url=url))
        with pytest.raises(ChannelError) as info:
            await transport.deliver(_message("helpdesk"))
        await transport.deliver(_message("helpdesk"))  # the next answer is 200: delivered
    assert type(info.value) is expected and "helpdesk webhook answered" in str(info.value)
    assert expected is not RetryAfter or info.value.retry_after == 120.0
    assert [body["escalation_id"] for body, _ in hook.received] == [7, 7]


async def test_helpdesk_unreachable_or_unset_is_named() -> None:
    """Nobody listening is temporary; no URL configured is permanent (fix it, then retry-dead)."""
    with pytest.raises(Transient, match="helpdesk webhook unreachable: ConnectError"):
        await HelpdeskTransport(make_settings(helpdesk_webhook_url="http://127.0.0.1:9/x")).deliver(
            _message("helpdesk")
        )
    with pytest.raises(Permanent, match="CXBOT_HELPDESK_WEBHOOK_URL"):
        await HelpdeskTransport(make_settings()).deliver(_message("helpdesk"))


@pytest.mark.parametrize(
    ("refuse", "expected"),
    [({"RCPT": "550 no such user"}, Permanent), ({"MAIL": "451 try again later"}, Transient)],
)
async def test_smtp_refusals_are_named(refuse: dict[str, str], expected: type[ChannelError]) -> None:
    """A 5xx from the SMTP server is permanent, a 4xx temporary; nothing is sent either way."""
    with serve_smtp() as (port, server):
        server.refuse = refuse
        settings = make_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_to="a@b.c")
        with pytest.raises(expected):
            await MailTransport(settings, escalation_mail).deliver(_message("email"))
    assert server.mails == []


async def test_smtp_unreachable_or_unset_is_named() -> None:
    """No server listening is temporary; no SMTP host or recipient configured is permanent."""
    closed = make_settings(smtp_host="127.0.0.1", smtp_port=9, smtp_starttls=False, smtp_to="a@b.c")
    with pytest.raises(Transient, match="SMTP failed"):
        await MailTransport(closed, escalation_mail).deliver(_message("email"))
    with pytest.raises(Permanent, match="CXBOT_SMTP_HOST"):
        await MailTransport(make_settings(smtp_to="a@b.c"), escalation_mail).deliver(_message("email"))
    with pytest.raises(Permanent, match="CXBOT_SMTP_TO"):
        await MailTransport(make_settings(smtp_host="127.0.0.1"), escalation_mail).deliver(_message("email"))
