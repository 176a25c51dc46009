"""Working the stored deliveries: map, find the customer, ingest; record the outcome on the row.

Outcomes: ``ok`` (events ingested; their ids kept on the row), ``ignored`` (understood, nothing to
do), ``unmapped`` (cannot be mapped or matched to a customer: kept and reported, replayable
after a fix), ``failed`` (an unexpected error, retried with the lease up to ``MAX_ATTEMPTS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from bot.connectors import CONNECTORS
from bot.connectors.base import Contact, Ignored, Mapped, Options, Unmappable, load_json
from bot.connectors.deeplink_mail import enqueue_deep_link_mail
from bot.connectors.metrics import PROCESSED
from bot.engine.wiring import App
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.settings import Settings
from flows.errors import CxbotError
from flows.scheduling import parse_quiet_hours
from storage import connector_deliveries as store
from storage import customers
from storage.db import Database, Session

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 5


def normalise_email(value: str | None) -> str | None:
    """Return the e-mail lower-cased, or None when it is not an address."""
    if not value or "@" not in value:
        return None
    return value.strip().lower()[:254]


def normalise_phone(value: str | None) -> str | None:
    """Return the phone as ``+``/digits only (None when fewer than 6 digits)."""
    if not value:
        return None
    digits = re.sub(r"\D", "", value)
    if len(digits) < 6:
        return None
    return ("+" if value.strip().startswith(("+", "00")) else "") + digits.removeprefix("00")


def options(settings: Settings) -> Options:
    """Return the mapping options from the settings."""
    return Options(woocommerce_delivered_status=settings.woocommerce_delivered_status)


def _by_contact(session: Session, contact: Contact) -> str | None:
    for kind, value in (("email", normalise_email(contact.email)), ("phone", normalise_phone(contact.phone))):
        if value is None:
            continue
        found = customers.by_contact(session, kind, value)
        if found is not None:
            return found
    return None


def resolve_customer(session: Session, mapped: Mapped) -> str:
    """Return the customer an event is about.

    The order's customer wins (deliveries and refunds carry no customer of their own); then the
    sender's customer id; then a known e-mail or phone. Shop events may create the customer (a
    guest gets ``email:<address>``); helpdesk events must match one.

    Raises:
        Unmappable: when no customer matches.
    """
    if mapped.order_id is not None:
        ordered_by = customers.of_order(session, mapped.order_id)
        if ordered_by is not None:
            return ordered_by
    contact = mapped.contact
    creates = mapped.type.startswith("order.")
    if contact.customer_id and (creates or customers.find(session, contact.customer_id) is not None):
        return contact.customer_id
    found = _by_contact(session, contact)
    if found is not None:
        return found
    if creates:
        email, phone = normalise_email(contact.email), normalise_phone(contact.phone)
        if email:
            return f"email:{email}"[:128]
        if phone:
            return f"phone:{phone}"
    raise Unmappable(
        f"no customer matches {mapped.type} (order {mapped.order_id or '-'}; "
        "no known customer id, e-mail or phone)"
    )


def _event(mapped: Mapped, customer_id: str) -> BusinessEventIn:
    body: dict[str, Any] = {
        "event_id": mapped.event_id,
        "type": mapped.type,
        "occurred_at": mapped.occurred_at.isoformat(),
        "customer": {
            "id": customer_id,
            "name": mapped.contact.name,
            "language": mapped.contact.language,
        },
    }
    if mapped.order_id is not None:
        body["order"] = {"id": mapped.order_id, "items": [{"name": n} for n in mapped.items[:100]]}
    if mapped.ticket_id is not None:
        body["ticket"] = {"id": mapped.ticket_id}
    try:
        return BusinessEventIn.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Unmappable(f"the mapped event is invalid: {where}: {first['msg']}") from exc


def _remember_contacts(db: Database, customer_id: str, contact: Contact, source: str, now: datetime) -> None:
    values = [("email", normalise_email(contact.email)), ("phone", normalise_phone(contact.phone))]
    with db.write() as session:
        for kind, value in values:
            if value is not None:
                customers.remember_contact(session, customer_id, kind, value, source, now)


def ingest_mapped(app: App, mapped: Mapped, source: str, now: datetime) -> str:
    """Resolve, ingest and remember the contacts of one mapped event; return its event id.

    Raises:
        Unmappable: when no customer matches or the event is invalid.
        StorageError: when the database fails.
    """
    with app.db.read() as session:
        customer_id = resolve_customer(session, mapped)
    event = _event(mapped, customer_id)
    settings = app.settings
    result = ingest_event(
        app.db,
        app.journey,
        event,
        now,
        quiet=parse_quiet_hours(settings.quiet_hours),
        link_token=settings.deep_link_email,
    )
    _remember_contacts(app.db, customer_id, mapped.contact, source, now)
    if result.token and mapped.order_id:
        enqueue_deep_link_mail(app, customer_id, mapped.order_id, result.token, now)
    return mapped.event_id


@dataclass
class Outcome:
    """What working one delivery gave."""

    status: str
    detail: str | None = None
    events: list[str] = field(default_factory=list)


def work_one(app: App, connector_name: str, topic: str, body: str, now: datetime) -> Outcome:
    """Map and ingest one stored delivery; never raises for a bad payload (it becomes ``unmapped``)."""
    connector = CONNECTORS.get(connector_name)
    if connector is None:
        return Outcome("unmapped", f"no connector {connector_name!r}")
    done: list[str] = []
    try:
        payload = load_json(body.encode())
        for mapped in connector.map(topic, payload, options(app.settings)):
            done.append(ingest_mapped(app, mapped, connector_name, now))
    except Ignored as exc:
        return Outcome("ignored", str(exc), done)
    except Unmappable as exc:
        return Outcome("unmapped", str(exc), done)
    return Outcome("ok", None, done)


def process_pending(app: App, now: datetime, *, limit: int = 50) -> dict[str, int]:
    """Work the pending deliveries (leased); return counts by result."""
    results: dict[str, int] = {}
    for delivery in store.claim(app.db, now, limit=limit):
        try:
            outcome = work_one(app, delivery.connector, delivery.topic, delivery.body, now)
        except (CxbotError, Exception) as exc:  # a bug or the database: retried, then reported
            final = delivery.attempts >= MAX_ATTEMPTS
            reason = f"{type(exc).__name__}: {exc}"
            log.warning(
                "connector_delivery_failed",
                connector=delivery.connector,
                delivery=delivery.id,
                attempts=delivery.attempts,
                final=final,
                error=reason[:200],
            )
            outcome = Outcome("failed" if final else "pending", reason)
        store.finish(app.db, delivery.id, now, outcome.status, detail=outcome.detail, events=outcome.events)
        result = "retry" if outcome.status == "pending" else outcome.status
        PROCESSED.labels(delivery.connector, result).inc()
        if outcome.status == "unmapped":
            log.warning(
                "connector_delivery_unmapped",
                connector=delivery.connector,
                delivery=delivery.id,
                topic=delivery.topic,
                reason=outcome.detail,
            )
        results[result] = results.get(result, 0) + 1
    return results
