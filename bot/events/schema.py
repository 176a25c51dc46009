"""The business event accepted by ``POST /v1/events`` and ``cxbot events import`` (untrusted input)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from flows.journey import KNOWN_EVENTS

Ident = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)]


class EventCustomer(BaseModel):
    """Who the event is about."""

    model_config = ConfigDict(extra="ignore")

    id: Ident
    name: Name | None = None
    language: str | None = Field(default=None, pattern=r"^(it|en)([-_][A-Za-z]{2})?$")
    timezone: str | None = Field(default=None, max_length=64)
    telegram_chat_id: int | None = None
    consent: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class EventItem(BaseModel):
    """An order line."""

    model_config = ConfigDict(extra="ignore")

    name: Name
    category: Name | None = None


class EventOrder(BaseModel):
    """The order the event is about."""

    model_config = ConfigDict(extra="ignore")

    id: Ident
    items: list[EventItem] = Field(default_factory=list, max_length=100)


class EventTicket(BaseModel):
    """The support ticket the event is about (``ticket.*`` events)."""

    model_config = ConfigDict(extra="ignore")

    id: Ident


class BusinessEventIn(BaseModel):
    """A business event, e.g. an order delivered."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "evt-1001-delivered",
                    "type": "order.delivered",
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "customer": {
                        "id": "c-42",
                        "name": "Giulia",
                        "language": "it",
                        "timezone": "Europe/Rome",
                        "telegram_chat_id": 123456789,
                    },
                    "order": {"id": "1001", "items": [{"name": "Moka 6 tazze"}]},
                },
                {
                    "event_id": "evt-T77-closed",
                    "type": "ticket.closed",
                    "occurred_at": "2026-11-21T15:30:00+01:00",
                    "customer": {"id": "c-42", "language": "en", "timezone": "Europe/Rome", "consent": True},
                    "order": {"id": "1001"},
                    "ticket": {"id": "T-77"},
                },
            ]
        },
    )

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    type: str
    occurred_at: AwareDatetime
    customer: EventCustomer
    order: EventOrder | None = Field(default=None, validate_default=True)
    ticket: EventTicket | None = Field(default=None, validate_default=True)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in KNOWN_EVENTS:
            raise ValueError(f"unknown event type {value!r}; known: {', '.join(sorted(KNOWN_EVENTS))}")
        return value

    @field_validator("order")
    @classmethod
    def _order_for_order_events(cls, value: EventOrder | None, info: ValidationInfo) -> EventOrder | None:
        if value is None and str(info.data.get("type", "")).startswith("order."):
            raise ValueError("order events need the order (at least its id)")
        return value

    @field_validator("ticket")
    @classmethod
    def _ticket_for_ticket_events(cls, value: EventTicket | None, info: ValidationInfo) -> EventTicket | None:
        if value is None and str(info.data.get("type", "")).startswith("ticket."):
            raise ValueError("ticket events need the ticket (at least its id)")
        return value

    @property
    def language(self) -> str | None:
        """Return the customer's language code (it/en) or None."""
        return self.customer.language[:2].lower() if self.customer.language else None

    def placeholders(self) -> dict[str, str]:
        """Return the values for {order}, {product}, {ticket}, {name} in question texts."""
        values: dict[str, str] = {}
        if self.order is not None:
            values["order"] = self.order.id
            if self.order.items:
                values["product"] = self.order.items[0].name
        if self.ticket is not None:
            values["ticket"] = self.ticket.id
        if self.customer.name:
            values["name"] = self.customer.name
        return values

    def occurred_utc(self) -> datetime:
        """Return ``occurred_at`` (timezone-aware)."""
        return self.occurred_at
