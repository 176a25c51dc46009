"""Reading one customer's rows, or every answer, for exports and access requests."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from storage.db import Database
from storage.tables import ChannelIdentity, Customer, Escalation, Response, SurveyInstance


def answers_after(db: Database, last_id: int, limit: int, customer_id: str | None = None) -> list[Response]:
    """Return up to ``limit`` stored answers with an id above ``last_id`` (of one customer if given),
    by id: a page of a streamed export."""
    statement = select(Response).where(col(Response.id) > last_id).order_by(col(Response.id)).limit(limit)
    if customer_id is not None:
        statement = statement.where(col(Response.customer_id) == customer_id)
    with db.read() as session:
        return list(session.exec(statement))


def customer_rows(db: Database, customer_id: str) -> dict[str, Any] | None:
    """Return the customer's row, channels, surveys and escalations as JSON-ready dicts (None if unknown)."""
    with db.read() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            return None
        identities = session.exec(
            select(ChannelIdentity).where(col(ChannelIdentity.customer_id) == customer_id)
        )
        surveys = session.exec(select(SurveyInstance).where(col(SurveyInstance.customer_id) == customer_id))
        escalations = session.exec(select(Escalation).where(col(Escalation.customer_id) == customer_id))
        return {
            "customer": customer.model_dump(mode="json"),
            "channels": [i.model_dump(mode="json") for i in identities],
            "surveys": [s.model_dump(mode="json") for s in surveys],
            "escalations": [e.model_dump(mode="json") for e in escalations],
        }
