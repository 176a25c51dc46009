"""Inbound connectors: shop, tracking and helpdesk webhooks under ``/v1/connectors/<name>``.

Each platform module verifies its sender's own signature and maps its payloads to business
events; ``storage.connector_deliveries`` keeps every delivery raw (idempotent on the sender's
delivery id), ``worker`` maps and ingests from the stored rows, ``routes`` is the HTTP side.
"""

from __future__ import annotations

from bot.connectors import aftership, chatwoot, helpdesk_generic, shopify, woocommerce
from bot.connectors.base import Connector

CONNECTORS: dict[str, Connector] = {
    c.name: c
    for c in (
        shopify.CONNECTOR,
        woocommerce.CONNECTOR,
        aftership.CONNECTOR,
        chatwoot.CONNECTOR,
        helpdesk_generic.CONNECTOR,
    )
}
