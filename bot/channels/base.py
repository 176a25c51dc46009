"""What a channel plugs into cxbot.

Outbound (this section): a ``Transport`` delivers one outbox message and names a failure with
the error tree of ``flows.errors`` only; the one sender (``bot.sender.Sender``) claims, retries,
dead-letters and records. HTTP answers are named here once for every transport on HTTP.
"""

from __future__ import annotations

from typing import Any, Protocol

from flows.errors import ChannelError, Permanent, RetryAfter, Transient
from storage.claims import ClaimedMessage

# -- outbound: transports ---------------------------------------------------------------------


class Transport(Protocol):
    """Delivers one outbox message of a channel."""

    async def deliver(self, message: ClaimedMessage) -> dict[str, Any] | None:
        """Deliver ``message``; return fields to merge into its stored payload (e.g. message ids).

        Raises (nothing else: the sender treats anything else as a bug, retried then dead):
            ChatBlocked: the recipient blocked the bot.
            RetryAfter: flood control; try again after ``retry_after`` seconds.
            Permanent: can never succeed as it is.
            Transient: worth trying again later.
        """
        ...


def http_failure(status: int, *, what: str = "", retry_after: str | None = None) -> ChannelError:
    """Return the error for an HTTP answer that is not a success.

    429 with a ``Retry-After`` in seconds → ``RetryAfter``; 408, 429 without one and 5xx →
    ``Transient``; any other status (4xx, a 3xx nobody follows) → ``Permanent``.
    """
    message = f"{what}: http {status}" if what else f"http {status}"
    if status == 429 and retry_after is not None and retry_after.strip().isdigit():
        return RetryAfter(message, float(retry_after))
    if status in (408, 429) or status >= 500:
        return Transient(message)
    return Permanent(message)


def network_failure(exc: BaseException, *, what: str = "") -> Transient:
    """Return the error for a request that got no answer (refused, reset, timed out)."""
    name = f"network: {type(exc).__name__}"
    return Transient(f"{what}: {name}" if what else name)
