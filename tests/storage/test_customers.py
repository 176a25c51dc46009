"""Customers found by id, order, e-mail or phone, and the contacts connectors learn (storage.customers)."""

from __future__ import annotations

from storage import customers, event_facts, repo
from storage.db import Database
from tests.clocks import FakeClock


def test_customers_are_found_by_order_and_contact(db: Database, clock: FakeClock) -> None:
    """An order or a learnt contact leads to its customer; a contact already known keeps its first one."""
    with db.write() as session:
        repo.ensure_customer(session, "c-1", clock.now)
        repo.ensure_customer(session, "c-2", clock.now)
        event_facts.record_order(session, "o-1", "c-1", clock.now, status="placed")
        customers.remember_contact(session, "c-1", "email", "ada@example.com", "shopify", clock.now)
        customers.remember_contact(session, "c-2", "email", "ada@example.com", "chatwoot", clock.now)
        customers.remember_contact(session, "c-2", "phone", "+39333123456", "chatwoot", clock.now)
    with db.read() as session:
        assert customers.find(session, "c-1") is not None and customers.find(session, "c-9") is None
        assert (customers.of_order(session, "o-1"), customers.of_order(session, "o-9")) == ("c-1", None)
        assert customers.by_contact(session, "email", "ada@example.com") == "c-1"
        assert customers.by_contact(session, "phone", "+39333123456") == "c-2"
        assert customers.by_contact(session, "phone", "+39000") is None
        assert (customers.email_of(session, "c-1"), customers.email_of(session, "c-2")) == (
            "ada@example.com",
            None,
        )
