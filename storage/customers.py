"""Customers outside the conversation's hot path (``storage.repo`` has that): found by id, by
order, by e-mail or phone, and the contacts connectors learn for them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage import repo
from storage.tables import Customer, CustomerContact, Order


def find(session: Session, customer_id: str) -> Customer | None:
    """Return the customer row (None when there is none)."""
    return session.get(Customer, customer_id)


def of_order(session: Session, order_id: str) -> str | None:
    """Return the customer of the order (None when the order is unknown)."""
    order = session.get(Order, order_id)
    return order.customer_id if order is not None else None


def by_contact(session: Session, kind: str, value: str) -> str | None:
    """Return the customer a connector learnt the contact (``email``/``phone``, normalised) for."""
    row = session.exec(
        select(CustomerContact).where(col(CustomerContact.kind) == kind, col(CustomerContact.value) == value)
    ).first()
    return row.customer_id if row is not None else None


def email_of(session: Session, customer_id: str) -> str | None:
    """Return an e-mail address a connector learnt for the customer (None when none)."""
    return session.exec(
        select(CustomerContact.value).where(
            col(CustomerContact.customer_id) == customer_id, col(CustomerContact.kind) == "email"
        )
    ).first()


def remember_contact(
    session: Session, customer_id: str, kind: str, value: str, source: str, now: datetime
) -> None:
    """Keep a contact (``email``/``phone``) learnt from ``source``; one already known keeps its customer."""
    repo.insert_or_ignore(
        session,
        CustomerContact,
        {"customer_id": customer_id, "kind": kind, "value": value, "source": source, "created_at": now},
        ["kind", "value"],
    )
