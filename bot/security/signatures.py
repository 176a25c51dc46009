"""Timestamped HMAC-SHA256 request signatures (``t=<unix>,v1=<hex>`` over ``t.`` + body).

The timestamp makes a captured request useless after ``tolerance``: within it, the receiver's
own idempotency (``event_id``) answers ``duplicate``. The scheme mirrors Stripe's, so relays
and connectors (issue 23) can reuse ``check_timestamp`` and ``verify_timestamped`` as they are.

The old scheme (``sha256=<hex>`` over the body alone, replayable forever) is still accepted for
one release; callers log and count each use so operators see who must move (``LEGACY``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from flows.errors import AuthError

#: How far a signature's timestamp may be from the receiver's clock, either way (seconds).
DEFAULT_TOLERANCE = 300
V1 = "v1"
LEGACY = "legacy-sha256"


@dataclass(frozen=True)
class Verified:
    """A signature that matched: which scheme, and its timestamp (None for the legacy scheme)."""

    scheme: str
    timestamp: int | None


def _mac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_timestamped(secret: str, body: bytes, timestamp: int) -> str:
    """Return ``t=<timestamp>,v1=<hex HMAC-SHA256 of b"<timestamp>." + body>``."""
    return f"t={timestamp},v1={_mac(secret, str(timestamp).encode() + b'.' + body)}"


def sign_legacy(secret: str, body: bytes) -> str:
    """Return the deprecated ``sha256=<hex HMAC-SHA256 of the body>`` (for tests and old clients)."""
    return "sha256=" + _mac(secret, body)


def check_timestamp(timestamp: int, now: datetime, tolerance: int = DEFAULT_TOLERANCE) -> None:
    """Refuse a signature timestamp more than ``tolerance`` seconds away from ``now``.

    Raises:
        AuthError: naming how far off it is (stale, replayed, or a skewed clock).
    """
    skew = int(now.timestamp()) - timestamp
    if abs(skew) > tolerance:
        direction = "old" if skew > 0 else "in the future"
        raise AuthError(f"signature timestamp is {abs(skew)} s {direction} (tolerance {tolerance} s)")


def parse_timestamped(header: str) -> tuple[int, list[str]]:
    """Return ``(t, [v1 signatures])`` from ``t=<unix>,v1=<hex>[,v1=<hex>]`` (several during key rotation).

    Raises:
        AuthError: when ``t`` or every ``v1`` is missing or malformed.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == V1 and value:
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        raise AuthError("signature must look like t=<unix seconds>,v1=<hex>")
    return timestamp, signatures


def verify_timestamped(
    secret: str, body: bytes, header: str, now: datetime, tolerance: int = DEFAULT_TOLERANCE
) -> Verified:
    """Check a ``t=…,v1=…`` header against ``body`` in constant time, then its timestamp.

    Raises:
        AuthError: malformed, wrong, or outside the tolerance.
    """
    timestamp, given = parse_timestamped(header)
    expected = _mac(secret, str(timestamp).encode() + b"." + body).encode()
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in given):
        raise AuthError("signature does not match the body")
    check_timestamp(timestamp, now, tolerance)  # after the MAC: an attacker learns nothing about t
    return Verified(V1, timestamp)


def verify(
    secret: str, body: bytes, header: str | None, now: datetime, tolerance: int = DEFAULT_TOLERANCE
) -> Verified:
    """Check either scheme; the result says which (``LEGACY`` must be logged and counted by the caller).

    Raises:
        AuthError: missing, malformed, wrong or stale.
    """
    if not header:
        raise AuthError("missing signature header (t=<unix seconds>,v1=<hex HMAC-SHA256 of 't.' + body>)")
    header = header.strip()
    if header.lower().startswith("sha256="):
        given = header.partition("=")[2].strip().lower()
        if not given or not hmac.compare_digest(_mac(secret, body).encode(), given.encode()):
            raise AuthError("signature does not match the body")
        return Verified(LEGACY, None)
    return verify_timestamped(secret, body, header, now, tolerance)
