"""Translating between cxbot's outbox payloads and Rasa's bot responses and button payloads.

A button is rendered as ``/cxbot_answer{"value": "score:7", "cxbot_survey_id": "12"}``: Rasa parses
a message starting with ``/`` as an intent with entities (skipping NLU), so a press comes back as
intent ``cxbot_answer`` with entity ``value`` (the engine's choice value) and the survey it answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ANSWER_INTENT = "cxbot_answer"
VALUE_ENTITY = "value"
SURVEY_ENTITY = "cxbot_survey_id"
MESSAGE_ENTITY = "cxbot_message_id"
TRIGGER_INTENT = "cxbot_survey_due"

# The engine's choice values: score:N, reason:<id>, skip, lang:it|en (bounded like ButtonPress).
_VALUE_RE = re.compile(r"^(score:\d{1,2}|reason:[a-z0-9_]{1,24}|skip|lang:(it|en))$")


def button_payload(value: str, survey_id: object) -> str:
    """Return the Rasa payload a button with choice ``value`` sends back."""
    entities: dict[str, str] = {VALUE_ENTITY: value}
    if isinstance(survey_id, int):
        entities[SURVEY_ENTITY] = str(survey_id)
    return f"/{ANSWER_INTENT}{json.dumps(entities, separators=(',', ':'))}"


def to_rasa_response(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Rasa bot response (``text`` and ``buttons``) for an outbox payload."""
    response: dict[str, Any] = {"text": str(payload.get("text", ""))}
    buttons = [
        {
            "title": str(choice["label"]),
            "payload": button_payload(str(choice["value"]), payload.get("survey_id")),
        }
        for row in payload.get("rows") or []
        for choice in row
    ]
    if buttons:
        response["buttons"] = buttons
    return response


@dataclass(frozen=True)
class Pressed:
    """A button press read back from Rasa entities."""

    value: str
    survey_id: int | None


def parse_value(value: object) -> str | None:
    """Return ``value`` when it is a valid engine choice value, else None (untrusted input)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _VALUE_RE.match(value) else None


def parse_survey_id(value: object) -> int | None:
    """Return a survey id from an entity value ("12" or 12), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip())
    return None


def pressed_from(entities: list[Mapping[str, Any]]) -> Pressed | None:
    """Return the button press carried by a message's entities, or None when there is none."""
    by_name = {str(e.get("entity")): e.get("value") for e in entities if isinstance(e, Mapping)}
    value = parse_value(by_name.get(VALUE_ENTITY))
    if value is None:
        return None
    return Pressed(value=value, survey_id=parse_survey_id(by_name.get(SURVEY_ENTITY)))
