"""The Rasa action server given malformed trackers and domains: 400 naming the part, never 500."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.channels.rasa.server import create_action_server
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.infra.settings import Settings
from flows.journey import Journey
from storage.db import Database
from tests.bot.channels.test_rasa_actions import asgi_client, due_delivery_survey, load
from tests.clocks import FakeClock
from tests.hostile.conftest import Tally


@pytest.fixture
def cx(db: Database, journey: Journey, clock: FakeClock) -> App:
    """Return the app on each database with the test clock."""
    settings = Settings(database_url="sqlite://", _env_file=None)
    return App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=clock))


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(leaf)] = value
    else:
        target[leaf] = value
    return changed


MALFORMED = [
    ("tracker", [], "tracker"),
    ("tracker.sender_id", 42, "tracker.sender_id"),
    ("tracker.slots", ["cxbot_score"], "tracker.slots"),
    ("tracker.latest_message", "hi", "tracker.latest_message"),
    ("tracker.latest_message.text", {"x": 1}, "tracker.latest_message.text"),
    ("tracker.latest_message.entities", {"entity": "x"}, "tracker.latest_message.entities"),
    ("tracker.latest_message.entities.0", "cxbot_survey_id", "tracker.latest_message.entities[0]"),
    ("tracker.latest_message.intent", "cxbot_survey_due", "tracker.latest_message.intent"),
    ("tracker.events", {"event": "user"}, "tracker.events"),
    ("tracker.events.0", "action_listen", "tracker.events[0]"),
    ("tracker.events.0.event", None, "tracker.events[0].event"),
    ("tracker.active_loop", ["cxbot_survey_form"], "tracker.active_loop"),
    ("tracker.followup_action", 7, "tracker.followup_action"),
    ("next_action", ["validate_cxbot_survey_form"], "next_action"),
    ("domain", ["forms"], "domain"),
    ("domain.forms", "cxbot_survey_form", "domain.forms"),
    ("domain.forms", [{"name": "cxbot_survey_form"}], "domain.forms"),
    ("domain.forms.cxbot_survey_form", ["cxbot_score"], "domain.forms.cxbot_survey_form"),
    ("domain.slots", ["cxbot_score"], "domain.slots"),
    ("domain.slots.cxbot_score", "text", "domain.slots.cxbot_score"),
    ("domain.slots.cxbot_score.mappings", {"type": "custom"}, "domain.slots.cxbot_score.mappings"),
]


@pytest.mark.parametrize(("path", "value", "named"), MALFORMED)
async def test_malformed_part_is_400_naming_it(
    cx: App, clock: FakeClock, tally: Tally, path: str, value: object, named: str
) -> None:
    """Each part of the tracker or domain given the wrong shape: 400 with the part named, never 500."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    body = _set(load("validate_on_activation", survey_id=survey_id, message_id=message_id), path, value)
    async with asgi_client(create_action_server(cx)) as client:
        answer = await client.post("/webhook", json=body)
    tally.probe(answer.status_code)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == named


async def test_forms_as_a_list_like_rasas_documentation_is_served(
    cx: App, clock: FakeClock, tally: Tally
) -> None:
    """A domain whose ``forms`` is a list of names (Rasa's documented example) is answered, not a 500."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    body = load("validate_on_activation", survey_id=survey_id, message_id=message_id)
    body["domain"]["forms"] = list(body["domain"]["forms"])
    async with asgi_client(create_action_server(cx)) as client:
        answer = await client.post("/webhook", json=body)
    tally.probe(answer.status_code)
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json()["events"], list)


async def test_every_request_fixture_survives_type_swaps(cx: App, clock: FakeClock, tally: Tally) -> None:
    """Every top-level part of every fixture request replaced by each wrong JSON type: no 5xx."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    names = ["ask_score", "no_domain", "opt_out", "submit", "validate_comment_text", "validate_score_button"]
    statuses: list[int] = []
    async with asgi_client(create_action_server(cx)) as client:
        for name in names:
            body = load(name, survey_id=survey_id, message_id=message_id)
            parts = [f"tracker.{k}" for k in body["tracker"]] + [k for k in body if k != "tracker"]
            for path in parts:
                for wrong in (None, 0, [1], {"a": [None]}):
                    answer = await client.post("/webhook", json=_set(body, path, wrong))
                    tally.probe(answer.status_code)
                    statuses.append(answer.status_code)
    assert statuses and max(statuses) < 500, sorted(set(statuses))
