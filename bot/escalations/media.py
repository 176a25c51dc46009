"""Media a customer sends while their case is open and no agent holds it yet: attached to the case.

A captioned photo joins the case through its words; one without a caption has none, so the case
gets the file itself: the channel feeds ``CustomerMedia`` (the engine attaches it and thanks the
customer), and the card hook copies the message onto the case, replying to the card whose new
version notes "📎 sent: a photo", all in the transaction that marks the update done.
"""

from __future__ import annotations

from flows.conversation import ConversationState

#: Media that can show what went wrong (a sticker, a location or a dice cannot).
ATTACHABLE = frozenset({"photo", "video", "document", "voice", "audio", "video_note"})


def joins_open_case(state: ConversationState | None, media: str) -> bool:
    """Return True when ``media`` from a customer in ``state`` joins their open case: it is
    evidence and no agent holds the case yet (the channel answers any other media itself)."""
    return state is not None and media in ATTACHABLE and state.case_open and state.handoff is None
