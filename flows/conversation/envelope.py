"""An inbound with where it came from: what a channel read from one update (``Channel.parse``
in ``bot.channels.base``) and what ``Service.feed_many`` finds the customer by. Plain data, so the
service and every channel share it without depending on each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from flows.scales import Lang

In = TypeVar("In", covariant=True)


@dataclass(frozen=True)
class Envelope(Generic[In]):
    """One inbound, read once, with where it came from."""

    channel: str
    #: The chat (or sender) it came from: replies go there; the customer is found by it.
    address: str
    inbound: In
    #: The language of the sender's client, when the platform says (a stranger is answered in it).
    language_hint: Lang | None = None
    #: The platform's id of the message (for a button press: of the message the button was on).
    message_id: int | None = None
    #: A button press the channel acknowledges itself (Telegram's callback query): a press that
    #: changes nothing is answered there (a pop-up), not by chat messages.
    press_id: str | None = None
    #: The token of a deep link (``/start <token>``): names the customer of a chat not yet theirs.
    start_token: str | None = None
