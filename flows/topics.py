"""The complaint/praise themes a comment or a reason chip can be about.

Reply understanding tags texts with these; escalation rules and the weekly summary's themes
use the same names, so they live in one place.
"""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    """A theme of a customer's words."""

    NOT_RECEIVED = "not_received"  # delivered but not received, never arrived
    LATE_DELIVERY = "late_delivery"
    DELIVERY = "delivery"  # courier, parcel, shipping in general
    DAMAGED = "damaged"  # damaged item or destroyed box
    WRONG_ITEM = "wrong_item"
    REFUND = "refund"  # refund not received / asked
    PRODUCT_QUALITY = "product_quality"
    STAFF = "staff"  # rude or unhelpful people
    SUPPORT = "support"  # customer service in general
    UNRESOLVED = "unresolved"  # the issue is still not fixed
    PRICE = "price"
    WEBSITE = "website"  # website, app, checkout, payment
    COMMUNICATION = "communication"  # updates, tracking info, e-mails
    LEGAL = "legal"  # lawyer, complaint to authorities
    SAFETY = "safety"  # dangerous product, injury
    # What works: the reasons satisfied customers and promoters give (positive reason chips).
    FAST_DELIVERY = "fast_delivery"
    WELL_PACKED = "well_packed"
    AS_DESCRIBED = "as_described"  # the product is as described / as expected
    GOOD_PRODUCT = "good_product"
    GOOD_VALUE = "good_value"
    EASY_ORDERING = "easy_ordering"  # website, app, checkout, payment were easy
    HELPFUL_STAFF = "helpful_staff"  # kind courier, helpful customer service
    FAST_SUPPORT = "fast_support"
    ISSUE_SOLVED = "issue_solved"


#: Themes that make any answer a P1 escalation, whatever the score (CX_METHOD §3).
URGENT_TOPICS: frozenset[Topic] = frozenset(
    {
        Topic.NOT_RECEIVED,
        Topic.REFUND,
        Topic.DAMAGED,
        Topic.WRONG_ITEM,
        Topic.STAFF,
        Topic.UNRESOLVED,
        Topic.LEGAL,
        Topic.SAFETY,
    }
)

#: What works: the praise themes (the positive reason chips). The weekly report lists them per stage
#: next to the complaint themes, and never counts them as complaints.
POSITIVE_TOPICS: frozenset[Topic] = frozenset(
    {
        Topic.FAST_DELIVERY,
        Topic.WELL_PACKED,
        Topic.AS_DESCRIBED,
        Topic.GOOD_PRODUCT,
        Topic.GOOD_VALUE,
        Topic.EASY_ORDERING,
        Topic.HELPFUL_STAFF,
        Topic.FAST_SUPPORT,
        Topic.ISSUE_SOLVED,
    }
)
