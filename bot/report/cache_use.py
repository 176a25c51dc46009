"""What the weekly report did with its cache of closed weeks, counted for Prometheus.

Imported where a report is built (not at the CLI's start-up: it brings the metrics and SQLAlchemy).
A failure to store weeks is logged where it happens (``storage.report_cache``); here it is counted.
"""

from __future__ import annotations

from prometheus_client import Counter

from bot.observability.metrics import REGISTRY
from storage.report_cache import CacheUse

REPORT_CACHE_WEEKS = Counter(
    "cxbot_report_cache_weeks_total",
    "Weeks read by weekly reports, by where their answers came from: reused (the cache), built "
    "(counted and stored), counted (not stored: open, or the store failed).",
    ["outcome"],
    registry=REGISTRY,
)
REPORT_CACHE_FAILURES = Counter(
    "cxbot_report_cache_failures_total",
    "Weekly reports that could not store ended weeks in the cache (writers held on; counted instead).",
    registry=REGISTRY,
)


def count_cache_use(use: CacheUse) -> None:
    """Count one report's use of the cache."""
    for outcome in ("reused", "built", "counted"):
        REPORT_CACHE_WEEKS.labels(outcome).inc(len(getattr(use, outcome)))
    if use.failed is not None:
        REPORT_CACHE_FAILURES.inc()
