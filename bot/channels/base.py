"""The inbound seam every channel plugs into: ``Channel.parse(raw) -> Envelope``.

A channel reads what its platform sent (the raw JSON kept in the inbox) once, into an
``Envelope``: where it came from (channel, address), what happened (a flows ``Inbound`` the
conversation steps on, or one of the channel events below) and the language the sender's client
uses. ``Service.feed_many`` takes envelopes of ``Inbound``s and finds (never creates) the customer
behind the address inside its own transaction; the channel never resolves customers itself. The
envelope is plain data defined in ``flows.conversation.envelope``, so that the service, which
every channel feeds, does not depend on the channels.

Something a channel cannot read at all is ``Unparseable``: recorded with its reason, logged once
and counted by the caller, never retried, never stopping the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from flows.conversation.envelope import Envelope

In = TypeVar("In", covariant=True)

__all__ = ["Channel", "Edited", "Envelope", "Ignored", "Media", "Membership", "Refused", "Unparseable"]


@dataclass(frozen=True)
class Unparseable:
    """Something a channel cannot read (a field it needs is missing or broken), with the reason."""

    reason: str


class Channel(Protocol[In]):
    """Reads its platform's raw updates into envelopes (one parse per update)."""

    @property
    def name(self) -> str:
        """The channel's name: its inbox and outbox rows carry it."""
        ...

    def parse(self, raw: dict[str, Any]) -> Envelope[In] | Unparseable:
        """Return the envelope of ``raw``, or why it cannot be read; never raises."""
        ...


# -- channel events: what a customer did that is not a conversation ``Inbound`` ----------------


@dataclass(frozen=True)
class Media:
    """A message the bot cannot read (a voice note, a sticker, a location…), by kind."""

    kind: str


@dataclass(frozen=True)
class Edited:
    """The customer edited a message they wrote at ``written_at``; ``text`` is its new text."""

    text: str
    written_at: datetime | None


@dataclass(frozen=True)
class Membership:
    """The customer blocked the bot (``blocked``) or started it again."""

    blocked: bool


@dataclass(frozen=True)
class Refused:
    """An input the channel refuses (a button whose signature does not hold), with the reason."""

    reason: str


@dataclass(frozen=True)
class Ignored:
    """Something not for cxbot (a group message, a reaction, a newer kind…), by kind: recorded."""

    kind: str
