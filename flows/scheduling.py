"""Which surveys a business event schedules or cancels, and when they are due. Pure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from flows.journey import Journey, Stage


@dataclass(frozen=True)
class PlannedSurvey:
    """A survey a business event asks for."""

    stage: Stage
    due_at: datetime


def sampled_in(event_id: str, stage: Stage) -> bool:
    """Return True when this event falls in the stage's sample (deterministic per event and stage)."""
    if stage.sample_rate >= 1.0:
        return True
    digest = hashlib.sha256(f"{event_id}|{stage.id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < stage.sample_rate


def plan_surveys(
    journey: Journey, event_type: str, event_id: str, occurred_at: datetime
) -> list[PlannedSurvey]:
    """Return the surveys an event schedules: due ``delay`` after it happened, sampled per stage.

    Due times count from ``occurred_at``, so an event that happened long enough ago is due at once.
    """
    return [
        PlannedSurvey(stage=stage, due_at=occurred_at + stage.delay)
        for stage in journey.triggered_by(event_type)
        if sampled_in(event_id, stage)
    ]


def stages_cancelled_by(journey: Journey, event_type: str) -> tuple[str, ...]:
    """Return the ids of the stages whose pending surveys an event of ``event_type`` cancels."""
    return tuple(stage.id for stage in journey.cancelled_by(event_type))
