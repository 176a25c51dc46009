"""Agents are who the operator lists: group admins outside CXBOT_AGENT_IDS cannot act; actions audited."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.channels.telegram.agents import handle_agent_update
from bot.cli.config_check import config_warnings
from bot.cli.main import app as cli
from bot.engine.service import Service
from bot.engine.wiring import App
from storage.tables import AgentActionRecord, Escalation
from tests.bot.escalations.conftest import (
    AGENT,
    AGENTS,
    DeskApp,
    api,
    client,
    desk_app,
    detractor,
    make_settings,
)
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI
from tests.hostile.conftest import Tally

__all__ = ["api", "client", "desk_app"]  # fixtures used here

ADMIN = 4444  # the group's administrator, not a listed agent
CREATOR = 4445


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row}


def _escalation(app: App) -> Escalation:
    with app.db.read() as session:
        return session.exec(select(Escalation)).one()


def _card_id(app: App) -> int:
    card_id = _escalation(app).card_message_id
    assert card_id is not None
    return card_id


def _audit(app: App) -> list[tuple[str, str]]:
    with app.db.read() as session:
        rows = session.exec(select(AgentActionRecord).order_by(col(AgentActionRecord.id))).all()
    return [(row.agent, row.action) for row in rows]


async def test_group_admins_outside_the_list_cannot_act(
    service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp, tally: Tally
) -> None:
    """With CXBOT_AGENT_IDS set, the group's creator and admins are refused Take, Resolve and replies."""
    app, _config, call, pump = desk_app
    api.set_member(AGENTS, ADMIN, "administrator")
    api.set_member(AGENTS, CREATOR, "creator")
    detractor(service, clock)
    await pump()
    card_id = _card_id(app)
    buttons = _buttons(api.chat_messages(AGENTS)[-1])
    for user in (ADMIN, CREATOR):
        for label in ("✋ Take", "✅ Resolve"):
            press = api.push_callback(AGENTS, card_id, buttons[label], user_id=user)
            outcome = await handle_agent_update(app, press, call=call)
            tally.probe(200 if outcome != "refused" else 403, forgery=True)
            assert outcome == "refused"
        reply = api.push_message(
            AGENTS, "Sono l'admin", user_id=user, chat_type="supergroup", reply_to_message_id=card_id
        )
        outcome = await handle_agent_update(app, reply, call=call)
        tally.probe(200 if outcome != "refused" else 403, forgery=True)
        assert outcome == "refused"
    escalation = _escalation(app)
    assert escalation.status == "open" and escalation.taken_by is None
    assert [action for _, action in _audit(app)] == ["refused"] * 6
    assert all(
        f"({user})" in agent
        for (agent, _), user in zip(_audit(app), [ADMIN] * 3 + [CREATOR] * 3, strict=True)
    )


async def test_every_action_is_audited_on_the_card_and_in_the_cli(
    service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Take, reply, resolve by the listed agent: who, what, when on the card and in cxbot escalations."""
    app, _config, call, pump = desk_app
    detractor(service, clock)
    await pump()
    card_id = _card_id(app)
    buttons = _buttons(api.chat_messages(AGENTS)[-1])
    take = api.push_callback(AGENTS, card_id, buttons["✋ Take"], user_id=AGENT)
    assert await handle_agent_update(app, take, call=call) == "taken"
    clock.advance(minutes=5)
    reply = api.push_message(
        AGENTS, "Arriva domani", user_id=AGENT, chat_type="supergroup", reply_to_message_id=card_id
    )
    assert await handle_agent_update(app, reply, call=call, now=clock.now) == "replied"
    await pump()
    buttons = _buttons(api.chat_messages(AGENTS)[0])
    clock.advance(minutes=5)
    resolve = api.push_callback(AGENTS, card_id, buttons["✅ Resolve"], user_id=AGENT)
    assert await handle_agent_update(app, resolve, call=call, now=clock.now) == "resolved"
    await pump()
    assert _audit(app) == [(f"Mario ({AGENT})", a) for a in ("take", "reply", "resolve")]
    card = api.chat_messages(AGENTS)[0]["text"]
    assert "Audit" in card and "took it" in card and "replied" in card and "resolved" in card
    assert f"Mario ({AGENT})" in card

    monkeypatch.setenv("CXBOT_DATABASE_URL", app.db.url)
    result = CliRunner().invoke(cli, ["escalations", "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["agent"], a["action"]) for a in row["actions"]] == _audit(app)
    assert row["actions"][1]["at"].startswith("2026-11-17T10:05")
    table = CliRunner().invoke(cli, ["escalations"])
    assert "last_action" in table.stdout and f"resolve Mario ({AGENT})" in table.stdout


async def test_without_a_list_group_members_act_and_config_warns(
    service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp
) -> None:
    """CXBOT_AGENT_IDS unset: a group member may act (the documented fallback) and cxbot config warns."""
    app, config, call, pump = desk_app
    open_config = replace(config, agent_ids=frozenset())
    api.set_member(AGENTS, ADMIN, "member")
    detractor(service, clock)
    await pump()
    card_id = _card_id(app)
    buttons = _buttons(api.chat_messages(AGENTS)[-1])
    take = api.push_callback(AGENTS, card_id, buttons["✋ Take"], user_id=ADMIN)
    assert await handle_agent_update(app, take, call=call, config=open_config) == "taken"
    outsider = api.push_callback(AGENTS, card_id, buttons["✅ Resolve"], user_id=9)
    assert await handle_agent_update(app, outsider, call=call, config=open_config) == "refused"
    assert config_warnings(make_settings(api.url)) == []
    [warning] = config_warnings(make_settings(api.url, agent_ids=[]))
    assert "ANY member" in warning and "CXBOT_AGENT_IDS" in warning
