"""Connector counters (on cxbot's registry, served by GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

from bot.observability.metrics import REGISTRY

DELIVERIES = Counter(
    "cxbot_connector_deliveries_total",
    "Webhook deliveries received, by connector and outcome (accepted, duplicate, rejected, ping).",
    ["connector", "outcome"],
    registry=REGISTRY,
)
PROCESSED = Counter(
    "cxbot_connector_processed_total",
    "Stored deliveries worked, by connector and result (ok, ignored, unmapped, failed, retry).",
    ["connector", "result"],
    registry=REGISTRY,
)
