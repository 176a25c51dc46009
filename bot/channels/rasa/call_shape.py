"""Checking the shape of a Rasa action call before rasa-sdk sees it.

rasa-sdk trusts its input: a tracker whose ``slots`` is a list, or a domain whose ``forms`` is a
list (as in Rasa's own documentation example), ends in ``AttributeError`` deep inside the SDK —
a 500. Here every part the SDK and cxbot's actions read is checked first, and the first problem
is named (``tracker.events[3]``, ``domain.forms``) for a 400 answer.

One harmless variant is normalised instead of refused: ``domain.forms`` as a list of form names
(older Rasa domains and the documentation example) becomes ``{name: {"required_slots": [...]}}``,
the slots being those whose mappings are conditioned on the form.
"""

from __future__ import annotations

from typing import Any


class MalformedCall(ValueError):
    """An action call the SDK would trip over; ``field`` names the part."""

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(f"{field}: expected {expected}")
        self.field = field


def _expect(value: Any, kind: type | tuple[type, ...], field: str, expected: str, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, kind):
        raise MalformedCall(field, expected)


def _tracker(tracker: Any) -> None:
    _expect(tracker, dict, "tracker", "an object", optional=False)
    _expect(tracker.get("sender_id"), str, "tracker.sender_id", "a string", optional=False)
    _expect(tracker.get("slots"), dict, "tracker.slots", "an object", optional=True)
    _expect(tracker.get("latest_message"), dict, "tracker.latest_message", "an object", optional=True)
    latest = tracker.get("latest_message") or {}
    _expect(latest.get("text"), str, "tracker.latest_message.text", "a string", optional=True)
    for key in ("entities", "intent_ranking"):
        _expect(latest.get(key), list, f"tracker.latest_message.{key}", "a list", optional=True)
    for index, entity in enumerate(latest.get("entities") or []):
        _expect(entity, dict, f"tracker.latest_message.entities[{index}]", "an object", optional=False)
    _expect(latest.get("intent"), dict, "tracker.latest_message.intent", "an object", optional=True)
    _expect(tracker.get("events"), list, "tracker.events", "a list", optional=True)
    for index, event in enumerate(tracker.get("events") or []):
        _expect(event, dict, f"tracker.events[{index}]", "an object", optional=False)
        _expect(event.get("event"), str, f"tracker.events[{index}].event", "a string", optional=False)
        _expect(event.get("data"), dict, f"tracker.events[{index}].data", "an object", optional=True)
    loop = tracker.get("active_loop", tracker.get("active_form"))
    _expect(loop, dict, "tracker.active_loop", "an object", optional=True)
    _expect((loop or {}).get("name"), str, "tracker.active_loop.name", "a string", optional=True)
    _expect(tracker.get("followup_action"), str, "tracker.followup_action", "a string", optional=True)
    _expect(tracker.get("latest_action_name"), str, "tracker.latest_action_name", "a string", optional=True)
    _expect(tracker.get("stack"), list, "tracker.stack", "a list", optional=True)


def _slots_of(domain: dict[str, Any], form: str) -> list[str]:
    """Return the slots whose mappings are conditioned on ``form`` being active (its required slots)."""
    slots = domain.get("slots")
    if not isinstance(slots, dict):
        return []
    found = []
    for name, slot in slots.items():
        mappings = slot.get("mappings") if isinstance(slot, dict) else None
        for mapping in mappings if isinstance(mappings, list) else []:
            conditions = mapping.get("conditions") if isinstance(mapping, dict) else None
            if any(isinstance(c, dict) and c.get("active_loop") == form for c in conditions or []):
                found.append(name)
                break
    return found


def _domain(domain: Any) -> dict[str, Any] | None:
    _expect(domain, dict, "domain", "an object", optional=True)
    if domain is None:
        return None
    domain = dict(domain)
    forms = domain.get("forms")
    if isinstance(forms, list) and all(isinstance(name, str) for name in forms):
        domain["forms"] = {name: {"required_slots": _slots_of(domain, name)} for name in forms}
    _expect(domain.get("forms"), dict, "domain.forms", "an object (or a list of form names)", optional=True)
    for name, form in (domain.get("forms") or {}).items():
        _expect(form, dict, f"domain.forms.{name}", "an object", optional=True)
        if isinstance(form, dict):
            _expect(
                form.get("required_slots"),
                (list, dict),
                f"domain.forms.{name}.required_slots",
                "a list",
                optional=True,
            )
    _expect(domain.get("slots"), dict, "domain.slots", "an object", optional=True)
    for name, slot in (domain.get("slots") or {}).items():
        _expect(slot, dict, f"domain.slots.{name}", "an object", optional=True)
        if isinstance(slot, dict):
            _expect(slot.get("mappings"), list, f"domain.slots.{name}.mappings", "a list", optional=True)
            for index, mapping in enumerate(slot.get("mappings") or []):
                _expect(mapping, dict, f"domain.slots.{name}.mappings[{index}]", "an object", optional=False)
    for key in ("intents", "entities", "actions"):
        _expect(domain.get(key), list, f"domain.{key}", "a list", optional=True)
    _expect(domain.get("responses"), dict, "domain.responses", "an object", optional=True)
    checked: dict[str, Any] = domain
    return checked


def checked_call(call: Any) -> dict[str, Any]:
    """Return the action call with its domain normalised.

    Raises:
        MalformedCall: naming the first part of the tracker or domain of the wrong shape.
    """
    _expect(call, dict, "body", "a JSON object", optional=False)
    _expect(call.get("next_action"), str, "next_action", "a string", optional=False)
    _expect(call.get("sender_id"), str, "sender_id", "a string", optional=True)
    _expect(call.get("domain_digest"), str, "domain_digest", "a string", optional=True)
    _tracker(call.get("tracker"))
    checked = dict(call)
    if "domain" in call:
        checked["domain"] = _domain(call.get("domain"))
    return checked
