"""Escalations into Chatwoot: the first change opens a conversation, each later one adds a note.

With ``CXBOT_CHATWOOT_URL``, ``_API_TOKEN``, ``_ACCOUNT_ID`` and ``_INBOX_ID`` set, every
escalation opened or changed in a customer's step queues an outbox row (channel ``chatwoot``)
in the same transaction. The sender creates (or finds) the contact, opens a conversation in the
configured inbox the first time, and posts the card as a private note (agents see it, the
customer does not). The conversation id is kept, so a retry or a later change never opens a
second one.

What the agents do on the desk goes the same way (``desk_hook``, in the action's transaction):
a take or a hand-back adds a private note naming the agent; a resolution adds its note and
resolves the Chatwoot conversation (``toggle_status``), so the shop's helpdesk never shows a case
cxbot's agents already closed as still open.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bot.delivery.sender import http_failure, network_failure
from bot.engine.apply import ApplyContext
from bot.engine.service import AfterApply
from bot.engine.wiring import App
from bot.escalations.destinations import summary
from bot.escalations.records import desk_language
from bot.infra.clock import Clock
from bot.infra.settings import Settings
from flows.errors import Permanent
from storage import chatwoot_links, repo
from storage.claims import ClaimedMessage
from storage.db import Database, Session
from storage.tables import Escalation

CHANNEL = "chatwoot"
DESK_KIND = "desk_action"  # outbox kind of an agent's take / hand-back / resolve

#: The private note of each desk action, in the desk language (it|en).
_DESK_NOTES: dict[str, dict[str, str]] = {
    "take": {
        "it": "✋ Segnalazione #{id} presa in carico da {agent} (cxbot)",
        "en": "✋ Escalation #{id} taken by {agent} (cxbot)",
    },
    "reply": {
        "it": "✋ Segnalazione #{id} presa in carico da {agent}, che ha risposto in chat (cxbot)",
        "en": "✋ Escalation #{id} taken by {agent}, who replied to the customer (cxbot)",
    },
    "hand_back": {
        "it": "↩️ Segnalazione #{id} restituita al bot da {agent} (cxbot)",
        "en": "↩️ Escalation #{id} handed back to the bot by {agent} (cxbot)",
    },
    "resolve": {
        "it": "✅ Segnalazione #{id} risolta da {agent} (cxbot)",
        "en": "✅ Escalation #{id} resolved by {agent} (cxbot)",
    },
}


def enabled(settings: Settings) -> bool:
    """Return True when the Chatwoot API is configured."""
    return bool(
        settings.chatwoot_url
        and settings.chatwoot_api_token
        and settings.chatwoot_account_id
        and settings.chatwoot_inbox_id
    )


def card_text(payload: dict[str, Any]) -> str:
    """Return the private note for an escalation summary (agents' language is the desk's)."""
    lines = [
        f"cxbot escalation #{payload.get('escalation_id')} — {str(payload.get('priority', '')).upper()}"
        f" — {payload.get('status')}",
        f"customer: {payload.get('customer_id')}  order: {payload.get('order_id') or '-'}",
        f"stage: {payload.get('stage')}  {payload.get('metric')}: {payload.get('score')}",
    ]
    if payload.get("sla_due_at"):
        lines.append(f"SLA: {payload['sla_due_at']}")
    lines += [f"> {t}" for t in payload.get("texts", [])]
    return "\n".join(lines)


def hook() -> AfterApply:
    """Return the after-apply hook queuing a Chatwoot note for each escalation changed in a step."""

    def chatwoot_hook(ctx: ApplyContext) -> None:
        seen: set[int | None] = set()
        for escalation in ctx.escalations:
            if escalation.id is None or escalation.id in seen:
                continue
            seen.add(escalation.id)
            payload = summary(escalation)
            repo.enqueue_message(
                ctx.session,
                channel=CHANNEL,
                address=str(escalation.id),
                kind="escalation",
                payload=payload,
                now=ctx.now,
                customer_id=escalation.customer_id,
                dedupe_key=f"chatwoot:{escalation.id}:{escalation.status}:{len(escalation.texts)}"[:128],
            )

    return chatwoot_hook


def desk_hook(session: Session, escalation: Escalation, action: str, agent: str, now: datetime) -> None:
    """Queue an agent's take, hand-back or resolution for the escalation's Chatwoot conversation."""
    if escalation.id is None or action not in _DESK_NOTES:
        return
    repo.enqueue_message(
        session,
        channel=CHANNEL,
        address=str(escalation.id),
        kind=DESK_KIND,
        payload={**summary(escalation), "action": action, "agent": agent, "at": now.isoformat()},
        now=now,
        customer_id=escalation.customer_id,
        dedupe_key=f"chatwoot:{escalation.id}:{action}:v{escalation.card_version}"[:128],
    )


def install(app: App) -> None:
    """Register the hooks on the app (once; only when Chatwoot is configured): the customer's
    steps (``service.after_apply``) and the agents' actions (``desk_hooks``)."""
    if not enabled(app.settings):
        return
    if not any(getattr(h, "__qualname__", "").startswith("hook.") for h in app.service.after_apply):
        app.service.after_apply.append(hook())
    if desk_hook not in app.desk_hooks:
        app.desk_hooks.append(desk_hook)


def desk_note(payload: dict[str, Any], lang: str) -> str:
    """Return the private note of an agent's action (``payload`` from ``desk_hook``)."""
    notes = _DESK_NOTES[str(payload["action"])]
    return notes.get(lang, notes["en"]).format(id=payload.get("escalation_id"), agent=payload.get("agent"))


class _Api:
    def __init__(self, settings: Settings, timeout: float) -> None:
        assert settings.chatwoot_url and settings.chatwoot_api_token
        self.base = f"{settings.chatwoot_url.rstrip('/')}/api/v1/accounts/{settings.chatwoot_account_id}"
        self.headers = {"api_access_token": settings.chatwoot_api_token.get_secret_value()}
        self.inbox = settings.chatwoot_inbox_id
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        import httpx  # here: ~5 MiB that a process without this destination never needs

        try:
            response = httpx.request(
                method,
                self.base + path,
                json=body,
                params=params or None,
                headers=self.headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise network_failure(exc, "Chatwoot unreachable") from exc
        if response.status_code >= 300:
            message = f"Chatwoot answered {response.status_code} to {method} {path}"
            raise http_failure(response.status_code, message, retry_after=response.headers.get("Retry-After"))
        return response.json()

    def contact(self, customer_id: str) -> tuple[int, str | None]:
        identifier = f"cxbot:{customer_id}"
        found = self.call("GET", "/contacts/search", q=identifier).get("payload") or []
        for contact in found:
            if contact.get("identifier") == identifier:
                return int(contact["id"]), None
        created = self.call(
            "POST", "/contacts", {"inbox_id": self.inbox, "name": customer_id, "identifier": identifier}
        )["payload"]
        source = (created.get("contact_inbox") or {}).get("source_id")
        return int(created["contact"]["id"]), source


class ChatwootTransport:
    """Delivers "chatwoot" outbox messages: the escalation's card as a private note."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    async def deliver(self, message: ClaimedMessage) -> None:
        """Post the card (in a thread: the API client and the database calls block).

        Raises:
            Permanent, Transient, RetryAfter: see ``deliver``.
        """
        payload = dict(message.payload)
        await asyncio.to_thread(deliver, self.db, self.settings, payload, self.clock())


def deliver(
    db: Database, settings: Settings, payload: dict[str, Any], now: datetime, *, timeout: float = 10.0
) -> None:
    """Post an escalation's card (or an agent's action) to its Chatwoot conversation, opening it
    the first time; a resolution also resolves the conversation.

    Raises:
        Permanent: when the Chatwoot API is not configured, or answers a 4xx other than 408/429.
        Transient, RetryAfter: unreachable, 408, 429 or 5xx.
    """
    if not enabled(settings):
        raise Permanent("CXBOT_CHATWOOT_URL, _API_TOKEN, _ACCOUNT_ID and _INBOX_ID must be set")
    api = _Api(settings, timeout)
    escalation = int(payload["escalation_id"])
    with db.read() as session:
        conversation = chatwoot_links.conversation_of(session, escalation)
    if conversation is None:
        contact, source = api.contact(str(payload.get("customer_id") or f"escalation-{escalation}"))
        body: dict[str, Any] = {"inbox_id": api.inbox, "contact_id": contact, "status": "open"}
        if source:
            body["source_id"] = source
        conversation = int(api.call("POST", "/conversations", body)["id"])
        with db.write() as session:
            chatwoot_links.remember_conversation(session, escalation, conversation, contact, now)
    action = payload.get("action")
    content = desk_note(payload, desk_language(settings)) if action else card_text(payload)
    api.call(
        "POST",
        f"/conversations/{conversation}/messages",
        {"content": content, "message_type": "outgoing", "private": True},
    )
    if action == "resolve":  # after the note: a retry of a half-done one posts the note again, at worst
        api.call("POST", f"/conversations/{conversation}/toggle_status", {"status": "resolved"})
