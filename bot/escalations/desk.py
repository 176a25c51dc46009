"""The agents' desk, independent of any channel: take, reply, hand back, resolve.

Each operation is one transaction: the escalation row (locked) changes, the customer's
conversation steps with an ``AgentAction`` (hand-off on/off, the agent's words, the closing
question) and the card's new version is queued, all together through ``Service.feed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.engine.wiring import App
from bot.escalations import audit
from bot.escalations.records import DeskConfig, post_card
from flows.conversation import AgentAction, AgentActionKind
from flows.errors import ConflictError, InputError, NotFoundError
from storage import escalations as escalation_store
from storage.db import Session
from storage.tables import Escalation

MAX_REPLY = 4000


@dataclass(frozen=True)
class DeskResult:
    """An escalation after a desk operation."""

    escalation_id: int
    status: str
    taken_by: str | None
    customer_id: str


#: The audit's name of each action.
_AUDITED = {
    AgentActionKind.TAKEN: "take",
    AgentActionKind.REPLIED: "reply",
    AgentActionKind.HANDED_BACK: "hand_back",
    AgentActionKind.RESOLVED: "resolve",
}

#: Changes the locked escalation; returns True when its card must be updated. Raises ConflictError.
Change = Callable[[Escalation], bool]

#: More writes for the action's transaction (e.g. marking the agent's update done in the inbox).
Also = Callable[[Session], None] | None


def _act(
    app: App,
    config: DeskConfig,
    escalation_id: int,
    action: AgentActionKind,
    change: Change,
    now: datetime,
    text: str = "",
    *,
    agent: str,
    within: Also = None,
) -> DeskResult:
    with app.db.read() as session:
        customer_id = escalation_store.customer_of(session, escalation_id)
    if customer_id is None:
        raise NotFoundError(f"no escalation #{escalation_id}")
    result: list[DeskResult] = []

    def change_locked(session: Session) -> None:
        row = escalation_store.lock_escalation(session, escalation_id)
        changed = change(row)
        audit.record(session, escalation_id, agent, _AUDITED[action], now)  # before the card shows it
        if changed:
            row.updated_at = now
            post_card(session, row, config, now)
            for hook in app.desk_hooks:
                hook(session, row, _AUDITED[action], agent, now)
        result.append(DeskResult(escalation_id, row.status, row.taken_by, customer_id))
        if within is not None:
            within(session)

    inbound = AgentAction(action=action, escalation_id=escalation_id, text=text)
    app.service.feed(customer_id, inbound, now=now, within=change_locked)
    return result[0]


def take(
    app: App, config: DeskConfig, escalation_id: int, agent: str, now: datetime, *, within: Also = None
) -> DeskResult:
    """The agent takes the escalation: the customer's messages now go to them.

    Raises:
        NotFoundError: no such escalation.
        ConflictError: it is resolved, or another agent has it.
    """

    def change(row: Escalation) -> bool:
        if row.status == "resolved":
            raise ConflictError(f"escalation #{escalation_id} is already resolved")
        if row.status == "taken":
            if row.taken_by == agent:
                return False
            raise ConflictError(f"escalation #{escalation_id} is taken by {row.taken_by}")
        row.status, row.taken_by, row.taken_at = "taken", agent, now
        return True

    return _act(app, config, escalation_id, AgentActionKind.TAKEN, change, now, agent=agent, within=within)


def hand_back(
    app: App, config: DeskConfig, escalation_id: int, agent: str, now: datetime, *, within: Also = None
) -> DeskResult:
    """The agent hands the conversation back to the bot; the escalation stays open (unclaimed).

    Raises:
        NotFoundError: no such escalation.
        ConflictError: it is not taken.
    """

    def change(row: Escalation) -> bool:
        if row.status != "taken":
            raise ConflictError(f"escalation #{escalation_id} is not taken")
        row.status = "open"
        return True

    return _act(
        app, config, escalation_id, AgentActionKind.HANDED_BACK, change, now, agent=agent, within=within
    )


def resolve(
    app: App, config: DeskConfig, escalation_id: int, agent: str, now: datetime, *, within: Also = None
) -> DeskResult:
    """Resolve: the customer gets a closing message and the "did we solve it?" question.

    Raises:
        NotFoundError: no such escalation.
        ConflictError: it is already resolved.
    """

    def change(row: Escalation) -> bool:
        if row.status == "resolved":
            raise ConflictError(f"escalation #{escalation_id} is already resolved")
        row.status, row.resolved_at, row.resolved_by = "resolved", now, agent
        row.closing_answer = None
        return True

    def ask_closing(session: Session) -> None:
        # each resolution asks "did we solve it?" once: its own row, answered later (never overwritten)
        escalation_store.ask_closing_question(session, escalation_id, agent, now)
        if within is not None:
            within(session)

    return _act(
        app, config, escalation_id, AgentActionKind.RESOLVED, change, now, agent=agent, within=ask_closing
    )


def _replying(escalation_id: int, agent: str, now: datetime) -> Change:
    """The change of a reply: the case is the replying agent's (taken if it was open)."""

    def change(row: Escalation) -> bool:
        if row.status == "resolved":
            raise ConflictError(f"escalation #{escalation_id} is already resolved")
        if row.status == "taken" and row.taken_by != agent:
            raise ConflictError(f"escalation #{escalation_id} is taken by {row.taken_by}")
        if row.status == "open":
            row.status, row.taken_by, row.taken_at = "taken", agent, now
            return True
        return False

    return change


def relay_agent_reply(
    app: App,
    config: DeskConfig,
    escalation_id: int,
    agent: str,
    text: str,
    now: datetime,
    *,
    within: Also = None,
) -> DeskResult:
    """Send the agent's words to the customer in the bot's voice (taking the escalation if open).

    Raises:
        InputError: empty or too long text.
        NotFoundError: no such escalation.
        ConflictError: it is resolved, or another agent has it.
    """
    text = text.strip()
    if not text or len(text) > MAX_REPLY:
        raise InputError(f"a reply must have 1 to {MAX_REPLY} characters", field="text")
    change = _replying(escalation_id, agent, now)
    return _act(
        app,
        config,
        escalation_id,
        AgentActionKind.REPLIED,
        change,
        now,
        text=text,
        agent=agent,
        within=within,
    )


def relay_agent_media(
    app: App, config: DeskConfig, escalation_id: int, agent: str, now: datetime, *, within: Also = None
) -> DeskResult:
    """The agent replied with media (a photo, a document, a voice note…): ``within`` queues its copy
    to the customer (the channel's own way of passing it on); the case is taken as by a reply.

    Raises:
        NotFoundError: no such escalation.
        ConflictError: it is resolved, or another agent has it.
    """
    change = _replying(escalation_id, agent, now)
    return _act(app, config, escalation_id, AgentActionKind.REPLIED, change, now, agent=agent, within=within)


def find_by_message(
    session: Session, chat_id: str, message_id: int | None, thread_id: int | None
) -> Escalation | None:
    """Return the escalation whose card is ``message_id`` (or whose forum topic is ``thread_id``)."""
    return escalation_store.by_card(session, chat_id, message_id, thread_id)
