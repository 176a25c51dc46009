"""Media a customer sends while their case is open and no agent holds it yet: attached to the case.

A captioned photo joins the case through its words; one without a caption has none, so the case
gets the file itself: the channel copies it to the agents' chat as a reply to the card (``copy``),
the card notes "📎 sent: a photo", and the customer is told it was attached, all in the
transaction that marks the update done. Channel-agnostic: the channel supplies the copy.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from bot.apply import Address
from bot.service import Service
from flows.conversation import CustomerMedia
from storage import repo
from storage.tables import Escalation

#: Media that can show what went wrong (a sticker, a location or a dice cannot).
ATTACHABLE = frozenset({"photo", "video", "document", "voice", "audio", "video_note"})

#: Queues the channel's copy of the customer's message onto the case (inside the transaction).
Copy = Callable[[Session, Escalation], None]


def attach_to_open_case(
    service: Service, via: Address, media: str, copy: Copy, *, within: Callable[[Session], None]
) -> bool:
    """Attach ``media`` to the open, not yet taken case of the chat's customer; return False (and
    do nothing) when there is no such case or the media is not evidence, for the channel to answer
    as it answers media it cannot read."""
    if media not in ATTACHABLE:
        return False
    with service.db.read() as session:
        identity = repo.find_identity(session, via.channel, via.address)
    state = service.state_of(identity.customer_id) if identity is not None else None
    if identity is None or state is None or not state.case_open or state.handoff is not None:
        return False
    customer_id = identity.customer_id

    def then(session: Session) -> None:
        escalation = repo.latest_open_escalation(session, customer_id)
        if escalation is not None and escalation.card_chat_id is not None:
            copy(session, escalation)
        within(session)

    service.feed(customer_id, CustomerMedia(media=media), via=via, within=then)
    return True
