"""Random input to the parsers: only the documented error ever comes out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels import callbacks
from bot.channels.telegram.agents import TelegramAgents
from bot.channels.telegram.customers import TelegramCustomers
from bot.channels.telegram.updates import incoming
from bot.events.validation import parse_event
from flows.errors import InputError, JourneyError
from flows.journey import parse_journey


def _raised(function: Callable[..., object], *args: object) -> Exception | None:
    """Return what ``function(*args)`` raised (None when it returned)."""
    try:
        function(*args)
    except Exception as exc:
        return exc
    return None


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
# Mappings that look like a journey: real keys, random values.
JOURNEY_KEYS = ["brand", "default_language", "stages", "messages", "review_link", "referral_link", "id"]
STAGE_KEYS = [
    "id",
    "name",
    "trigger",
    "metric",
    "delay",
    "expiry",
    "question",
    "follow_up",
    "reasons",
    "priority",
]
stages = st.lists(st.dictionaries(st.sampled_from(STAGE_KEYS), values, max_size=8), max_size=3)
journeys = st.fixed_dictionaries(
    {}, optional={k: (stages if k == "stages" else values) for k in JOURNEY_KEYS}
) | st.dictionaries(st.text(max_size=10), values, max_size=6)


@given(journeys)
@FAST
def test_journey_loader_only_raises_journey_error(data: dict[str, Any]) -> None:
    """Any YAML mapping either loads as a journey or raises JourneyError listing problems."""
    exc = _raised(parse_journey, yaml.safe_dump(data, allow_unicode=True))
    assert exc is None or (isinstance(exc, JourneyError) and exc.problems), repr(exc)


@given(st.text(max_size=300))
@FAST
def test_journey_loader_on_random_text(text: str) -> None:
    """Random text (broken YAML, scalars, lists) raises JourneyError and nothing else."""
    exc = _raised(parse_journey, text)
    assert exc is None or isinstance(exc, JourneyError), repr(exc)


EVENT_KEYS = ["event_id", "type", "occurred_at", "customer", "order", "ticket", "items", "id", "language"]
events = st.dictionaries(st.sampled_from(EVENT_KEYS), values, max_size=8) | values


@given(events)
@FAST
def test_event_schema_only_raises_input_error(data: Any) -> None:
    """Any JSON value either validates as an event or raises InputError naming a field."""
    exc = _raised(parse_event, json.dumps(data))
    assert exc is None or (isinstance(exc, InputError) and exc.field), repr(exc)


@given(st.binary(max_size=500))
@FAST
def test_event_schema_on_random_bytes(body: bytes) -> None:
    """Random bytes raise InputError and nothing else."""
    exc = _raised(parse_event, body)
    assert exc is None or isinstance(exc, InputError), repr(exc)


@given(st.text(max_size=100), st.text(max_size=20))
@FAST
def test_forged_callback_data_never_verifies(data: str, chat: str) -> None:
    """Random callback data never passes as a press, and never raises."""
    assert callbacks.verify(b"k" * 32, chat, data) is None


MESSAGE_KEYS = ["message_id", "chat", "from", "text", "date", "data", "message", "id", "language_code"]
parts = st.dictionaries(
    st.sampled_from(MESSAGE_KEYS), values | st.dictionaries(st.sampled_from(MESSAGE_KEYS), values)
)
updates = st.fixed_dictionaries({"update_id": values}, optional={"message": parts, "callback_query": parts})


@given(updates | st.dictionaries(st.text(max_size=10), values))
@FAST
def test_random_updates_never_raise(raw: dict[str, Any]) -> None:
    """Random update JSON is stored or ignored, and parsed or ignored, without raising."""
    incoming(raw)
    TelegramCustomers(b"k" * 32).parse(raw)
    TelegramAgents(-100).parse(raw)


def test_absurd_durations_are_journey_errors() -> None:
    """Durations past timedelta's range (found by the fuzz above) are a JourneyError, not an OverflowError."""
    for delay in ("1000000000d", "999999999999w", 10**20):
        stage = {"id": "s", "trigger": "order.delivered", "metric": "csat", "delay": delay}
        exc = _raised(parse_journey, yaml.safe_dump({"brand": "B", "stages": [stage]}))
        assert isinstance(exc, JourneyError), repr(exc)
        assert any("too long" in problem for problem in exc.problems)
