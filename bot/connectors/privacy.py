"""A forgotten customer's connector data: contacts deleted, the raw deliveries naming them blanked;
and the retention of raw deliveries: bodies erased after ``CXBOT_CONNECTOR_BODY_RETENTION_DAYS``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from storage.db import Database
from storage.tables import ChatwootConversation, ConnectorDelivery, CustomerContact


def erase_connector_data(session: Session, customer_id: str, escalation_ids: Sequence[int] = ()) -> int:
    """Delete the customer's e-mails/phones and the links of their escalations to Chatwoot contacts,
    and blank the stored webhook bodies that name them (or their customer id); return how many
    deliveries were blanked. Inside the caller's transaction."""
    contacts = list(
        session.exec(select(CustomerContact.value).where(col(CustomerContact.customer_id) == customer_id))
    )
    c = session.connection()
    c.execute(delete(CustomerContact).where(col(CustomerContact.customer_id) == customer_id))
    if escalation_ids:
        c.execute(
            delete(ChatwootConversation).where(
                col(ChatwootConversation.escalation_id).in_(list(escalation_ids))
            )
        )
    # The raw bodies are JSON: an e-mail or phone appears as a string value, the shop's customer
    # id as a number or a string. LIKE over the body finds them without parsing every row.
    needles = [*contacts, f'"{customer_id}"', f": {customer_id},", f":{customer_id},"]
    body = col(ConnectorDelivery.body)
    result = c.execute(
        update(ConnectorDelivery)
        .where(body != "", or_(*(body.contains(n, autoescape=True) for n in needles)))
        .values(body="", detail="body erased (customer forgotten)")
    )
    return int(result.rowcount or 0)


def erase_old_bodies(db: Database, before: datetime) -> int:
    """Blank the raw bodies of deliveries received before ``before``; return how many.

    The row stays (connector, delivery id, topic, outcome, events), so a redelivery is still
    recognised as a duplicate and ``cxbot connectors`` still lists it; only what the platform
    sent about the person goes. A delivery still pending keeps its body until it is worked.
    """
    with db.write() as session:
        result = session.connection().execute(
            update(ConnectorDelivery)
            .where(
                col(ConnectorDelivery.received_at) < before,
                col(ConnectorDelivery.body) != "",
                col(ConnectorDelivery.status) != "pending",
            )
            .values(body="")
        )
    return int(result.rowcount or 0)
