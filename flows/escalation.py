"""When an answer needs a human, and how urgently (CX_METHOD §3)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from flows.scales import Metric
from flows.topics import URGENT_TOPICS, Topic


class Priority(StrEnum):
    """P1: same business day. P2: within 48 hours."""

    P1 = "p1"
    P2 = "p2"


# Highest score of each tier, per metric.
_P1_MAX = {Metric.NPS: 4, Metric.CSAT: 1, Metric.CES: 2}
_P2_MAX = {Metric.NPS: 6, Metric.CSAT: 2, Metric.CES: 3}


def escalation_priority(
    metric: Metric | None, score: int | None, negative: bool, topics: Iterable[Topic] = ()
) -> Priority | None:
    """Return the priority with which an answer goes to a human, or None when it need not.

    Urgent themes (parcel not received, refund, damaged/wrong item, rude staff, unresolved
    issue, legal, safety) are P1 whatever the score; otherwise the score decides, and a
    neutral or positive score escalates (P2) only with a negative comment.
    """
    if negative and URGENT_TOPICS.intersection(topics):
        return Priority.P1
    if metric is not None and score is not None:
        if score <= _P1_MAX[metric]:
            return Priority.P1
        if score <= _P2_MAX[metric]:
            return Priority.P2
    return Priority.P2 if negative else None
