"""What every connector is: a signature check, the sender's delivery id and topic, and a pure mapping.

A connector never touches the database or the clock. ``verify`` and ``identify`` run in the HTTP
request (before anything is stored); ``map`` runs in the worker on the stored raw body and turns
it into :class:`Mapped` business events, which the worker resolves to a customer and ingests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flows.errors import AuthError


class Ignored(Exception):
    """The delivery is understood and needs nothing from cxbot (a fulfillment still in transit…)."""


class Unmappable(Exception):
    """The delivery cannot be turned into an event (unknown topic, missing field); it stays stored."""


@dataclass(frozen=True)
class Contact:
    """Who an event is about, as the sender knows them; the worker finds or creates the customer."""

    customer_id: str | None = None  # the shop's own customer id, when the sender has one
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    language: str | None = None  # it|en only; others are dropped


@dataclass(frozen=True)
class Mapped:
    """One business event a delivery leads to (``event_id`` is stable across redeliveries)."""

    event_id: str
    type: str
    occurred_at: datetime
    contact: Contact
    order_id: str | None = None
    items: tuple[str, ...] = ()
    ticket_id: str | None = None


@dataclass(frozen=True)
class Options:
    """The settings a mapping depends on (kept apart so mappings stay pure)."""

    woocommerce_delivered_status: str = "completed"


@dataclass(frozen=True)
class Connector:
    """A platform's webhook: how it is signed, identified and mapped."""

    name: str
    title: str
    setting: str  # the Settings field holding its secret
    verify: Callable[[str, bytes, Mapping[str, str]], None]
    identify: Callable[[bytes, Mapping[str, str]], tuple[str, str]]  # (delivery id, topic)
    map: Callable[[str, dict[str, Any], Options], list[Mapped]]
    steps: tuple[str, ...] = field(default=())  # "Connect your shop" steps, shown by the CLI


def hmac_b64(secret: str, body: bytes) -> str:
    """Return base64(HMAC-SHA256(secret, body)): the Shopify/WooCommerce/AfterShip signature."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def check_b64_signature(secret: str, body: bytes, given: str | None, header: str) -> None:
    """Compare ``given`` with the base64 HMAC-SHA256 of ``body`` in constant time.

    Raises:
        AuthError: when the header is missing or does not match.
    """
    if not given:
        raise AuthError(f"missing {header} header")
    if not hmac.compare_digest(hmac_b64(secret, body).encode(), given.strip().encode()):
        raise AuthError(f"{header} does not match the body")


def check_token(secret: str, given: str | None, header: str) -> None:
    """Compare a shared-secret header with the secret in constant time.

    Raises:
        AuthError: when the header is missing or wrong.
    """
    if not given:
        raise AuthError(f"missing {header} header")
    if not hmac.compare_digest(secret.encode(), given.strip().encode()):
        raise AuthError(f"{header} is wrong")


def body_digest(body: bytes) -> str:
    """Return a delivery id for senders that send none: the SHA-256 of the raw body."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def load_json(body: bytes) -> dict[str, Any]:
    """Parse a JSON object body.

    Raises:
        Unmappable: when the body is not a JSON object.
    """
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unmappable(f"the body is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Unmappable("the body is not a JSON object")
    return value


def language(value: object) -> str | None:
    """Return it/en from a locale such as ``it-IT`` or ``en``; None for anything else."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower()[:2]
    return code if code in ("it", "en") else None


def text(value: object, limit: int = 200) -> str | None:
    """Return a trimmed non-empty string (numbers become strings), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] if value and value.upper() != "NULL" else None


def when(value: object, *, naive_is_utc: bool = True) -> datetime | None:
    """Return an aware datetime from ISO 8601 text or unix seconds; None when absent or malformed."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" UTC", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            return None
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def need(value: datetime | str | None, what: str) -> Any:
    """Return ``value``, or raise Unmappable naming the missing field."""
    if value is None:
        raise Unmappable(f"missing or malformed {what}")
    return value
