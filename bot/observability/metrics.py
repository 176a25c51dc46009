"""Prometheus metrics. Counters are incremented where things happen; gauges read the database."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from storage import backlog
from storage.db import Database
from storage.dead_letters import dead_letters

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "cxbot_updates_handled_total", "Inbound events fed to the engine.", ["kind", "channel"], registry=REGISTRY
)
ANSWERS = Counter("cxbot_answers_stored_total", "Scores stored.", ["stage", "metric"], registry=REGISTRY)
SURVEYS = Counter(
    "cxbot_surveys_total", "Survey status changes (sent, expired…).", ["status"], registry=REGISTRY
)
ESCALATIONS_OPENED = Counter(
    "cxbot_escalations_opened_total", "Escalations opened or joined.", ["priority"], registry=REGISTRY
)
SEND_ERRORS = Counter(
    "cxbot_send_errors_total",
    "Outbox deliveries that failed, by channel and what followed (retry_after, transient: retried; "
    "blocked, permanent, exhausted: dead letter).",
    ["channel", "kind"],
    registry=REGISTRY,
)
DEAD_LETTERED = Counter(
    "cxbot_outbox_dead_lettered_total",
    "Outbox messages given up on (dead letters), by channel and reason (blocked, permanent, exhausted).",
    ["channel", "reason"],
    registry=REGISTRY,
)
API_ERRORS = Counter(
    "cxbot_telegram_api_errors_total",
    "Bot API failures by method and name (flood, forbidden, bad_request, server, network, timeout, "
    "not_json, refused).",
    ["method", "kind"],
    registry=REGISTRY,
)
UPDATES_SKIPPED = Counter(
    "cxbot_telegram_updates_skipped_total",
    "Telegram updates stored but not acted on because they could not be read, by reason.",
    ["reason"],
    registry=REGISTRY,
)
TASK_RESTARTS = Counter(
    "cxbot_task_restarts_total", "Long-running tasks restarted after a crash.", ["task"], registry=REGISTRY
)
TELEGRAM_429 = Counter("cxbot_telegram_429_total", "Telegram 'Too Many Requests' answers.", registry=REGISTRY)
CHANNEL_UP = Gauge(
    "cxbot_channel_up",
    "1 when the channel's API answered the last /readyz probe.",
    ["channel"],
    registry=REGISTRY,
)
NO_DELIVERY_CHANNEL = Gauge(
    "cxbot_no_delivery_channel",
    "1 when serve runs without any channel able to deliver messages.",
    registry=REGISTRY,
)
MESSAGES_SENT = Counter("cxbot_messages_sent_total", "Messages delivered.", ["channel"], registry=REGISTRY)
LEGACY_SIGNATURES = Counter(
    "cxbot_legacy_signatures_total",
    "Requests signed with the deprecated sha256=<hex> scheme (replayable; removed next release).",
    ["endpoint"],
    registry=REGISTRY,
)
REFUSED_SIGNATURES = Counter(
    "cxbot_refused_signatures_total",
    "Requests refused for a missing, wrong or stale signature.",
    ["endpoint"],
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "cxbot_handler_seconds",
    "Time to feed one inbound event (load, step, persist).",
    ["kind"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)


class DatabaseGauges(Collector):
    """Gauges read from the database at scrape time: outbox depth and dead letters, open
    escalations, due surveys."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the current values (nothing when the database is unreachable)."""
        outbox = GaugeMetricFamily("cxbot_outbox_depth", "Messages waiting to be sent.", labels=["channel"])
        dead = GaugeMetricFamily(
            "cxbot_outbox_dead_letters",
            "Outbox messages given up on and kept (status failed), by channel and reason.",
            labels=["channel", "reason"],
        )
        escalations = GaugeMetricFamily(
            "cxbot_escalations_open", "Escalations open or taken.", labels=["priority"]
        )
        scheduled = GaugeMetricFamily("cxbot_surveys_scheduled", "Surveys waiting for their due time.")
        try:
            for channel, count in backlog.pending_outbox(self.db):
                outbox.add_metric([channel], count)
            for letters in dead_letters(self.db):
                dead.add_metric([letters.channel, letters.reason], letters.count)
            for priority, count in backlog.open_escalations(self.db):
                escalations.add_metric([priority], count)
            scheduled.add_metric([], backlog.scheduled_surveys(self.db))
        except Exception:  # a scrape must not fail because the database is down
            return
        yield outbox
        yield dead
        yield escalations
        yield scheduled


_gauges: DatabaseGauges | None = None


def watch_database(db: Database) -> None:
    """Expose the database gauges of ``db`` on the registry (once per process)."""
    global _gauges
    if _gauges is None:
        _gauges = DatabaseGauges(db)
        REGISTRY.register(_gauges)
    else:
        _gauges.db = db
