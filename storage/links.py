"""Deep-link start tokens: ``https://t.me/<bot>?start=<token>`` binds a chat to a customer.

A token is 32 random URL-safe characters (192 bits: not guessable), stored with the customer it
belongs to, so it can never bind another customer; it expires and is consumed by one chat.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from storage.tables import LinkToken

TOKEN_TTL = timedelta(days=60)


def issue_token(session: Session, customer_id: str, now: datetime, ttl: timedelta = TOKEN_TTL) -> str:
    """Return a valid start token for the customer, reusing an unexpired unused one."""
    existing = session.exec(
        select(LinkToken)
        .where(
            col(LinkToken.customer_id) == customer_id,
            col(LinkToken.used_at).is_(None),
            col(LinkToken.expires_at) > now + timedelta(days=1),
        )
        .order_by(col(LinkToken.created_at).desc())
    ).first()
    if existing is not None:
        return existing.token
    token = secrets.token_urlsafe(24)  # 32 characters of A-Za-z0-9_-
    session.add(LinkToken(token=token, customer_id=customer_id, created_at=now, expires_at=now + ttl))
    session.flush()
    return token


def redeem_token(session: Session, token: str, chat: str, now: datetime) -> str | None:
    """Return the customer a start token belongs to and mark it used by ``chat``.

    Returns None for an unknown, expired, malformed token, or one already used by another chat
    (the same chat pressing Start again is fine).
    """
    if not token or len(token) > 64 or not all(c.isalnum() or c in "-_" for c in token):
        return None
    row = session.get(LinkToken, token)
    if row is None or row.expires_at <= now:
        return None
    if row.used_at is not None and row.used_by != chat:
        return None
    row.used_at = row.used_at or now
    row.used_by = chat
    session.add(row)
    return row.customer_id


def deep_link(bot_username: str | None, token: str) -> str | None:
    """Return the t.me deep link for ``token``, or None when the bot's username is unknown."""
    if not bot_username:
        return None
    return f"https://t.me/{bot_username.lstrip('@')}?start={token}"
