"""One name for this process in every lease it takes: ``bot.infra.leader.WORKER_ID``, plus a role."""

from __future__ import annotations

import inspect

from bot.channels.rasa import delivery as rasa_delivery
from bot.connectors import jobs as connector_jobs
from bot.delivery import sender
from bot.engine import timers
from bot.escalations import destinations
from bot.infra import leader
from bot.runtime import jobs

#: The owner columns (due_work, outbox, send_budget) hold 64 characters.
OWNER_COLUMN = 64


def test_every_lease_owner_is_this_process() -> None:
    """Timers, jobs, senders and budgets lease as WORKER_ID (or WORKER_ID:role), within 64 characters."""
    defaults = [
        inspect.signature(timers.run_due_work).parameters["owner"].default,
        inspect.signature(jobs.claim_period).parameters["worker"].default,
        inspect.signature(destinations.deliver_destinations).parameters["owner"].default,
    ]
    roles = [sender.OWNER, connector_jobs.OWNER, rasa_delivery.OWNER]
    assert defaults == [leader.WORKER_ID] * 3
    assert [owner.rsplit(":", 1)[0] for owner in roles] == [leader.WORKER_ID] * 3
    assert max(len(owner) for owner in [*roles, f"{leader.WORKER_ID}:budget"]) <= OWNER_COLUMN
    assert leader.worker_id().startswith(f"{leader.WORKER_ID}:")
