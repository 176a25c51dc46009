"""The demo: a discrete-event simulation of customers, the shop's events and the bot's clock.

Everything goes through the real path: events are ingested, timers claimed, the service steps
each conversation, messages go through the outbox, and simulated customers read them and reply.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.delivery.local import deliver_local
from bot.demo import replies
from bot.engine.apply import Address
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.clock import utcnow
from flows.conversation import ButtonPress, CustomerText, Inbound, Send, Started
from flows.journey import Journey, load_journey
from flows.scales import Lang, Metric
from storage import backlog, migrate
from storage import escalations as escalation_store
from storage.claims import ClaimedMessage
from storage.db import Database
from storage.summary import stage_summaries, totals

if TYPE_CHECKING:
    from bot.engine.wiring import App
    from bot.escalations.records import DeskConfig

CHANNEL = "demo"
PRODUCTS = ["Moka 6 tazze", "Macinacaffè manuale", "Tazzine in ceramica", "Caffè in grani 1 kg", "Bollitore"]
NAMES = ["Giulia", "Marco", "Sofia", "Luca", "Emma", "John", "Sarah", "Paolo", "Anna", "Tom"]


@dataclass
class Persona:
    """A simulated customer."""

    id: str
    lang: str
    mood: str
    responsive: float  # chance of answering a question at all
    pending: list[Any] = field(default_factory=list)


class Simulation:
    """Runs customers, events and timers in time order."""

    def __init__(self, service: Service, rng: Random, start: datetime) -> None:
        self.service = service
        self.db = service.db
        self.rng = rng
        self.now = start
        self.queue: list[tuple[datetime, int, str, Any]] = []
        self.seq = itertools.count()
        self.personas: dict[str, Persona] = {}
        self.unread = 0  # messages enqueued since the last delivery
        self.said_no: set[str] = set()  # customers who answered "not solved" at least once
        self.desk: tuple[DeskConfig, App] | None = None  # when agents are simulated

    def at(self, when: datetime, kind: str, data: Any) -> None:
        """Schedule a simulated happening."""
        heapq.heappush(self.queue, (when, next(self.seq), kind, data))

    def add_customer(self, index: int, horizon: timedelta) -> None:
        """Create a customer with an order history spread over ``horizon``."""
        rng = self.rng
        lang = "it" if rng.random() < 0.6 else "en"
        mood = rng.choices(["happy", "neutral", "angry"], weights=[55, 30, 15])[0]
        persona = Persona(f"demo-{index:05d}", lang, mood, responsive=rng.uniform(0.5, 0.95))
        self.personas[persona.id] = persona
        placed = self.now + timedelta(minutes=rng.uniform(0, horizon.total_seconds() / 60))
        order = f"{10000 + index}"
        customer = {"id": persona.id, "name": rng.choice(NAMES), "language": lang, "timezone": "Europe/Rome"}
        items = [{"name": rng.choice(PRODUCTS)}]
        self.at(placed - timedelta(minutes=1), "start", persona.id)
        self.at(
            placed, "event", self._event(f"{order}-placed", "order.placed", placed, customer, order, items)
        )
        if rng.random() < 0.3:
            # A returning customer: the relationship NPS comes from the repurchase stage (asked a day
            # later); the first-use NPS then falls under the 90-day cap and is skipped.
            again = placed + timedelta(minutes=5)
            event = self._event(f"{order}-rep", "order.repurchased", again, customer, order, items)
            self.at(again, "event", event)
        delivered = placed + timedelta(days=rng.uniform(1, 4))
        if rng.random() < 0.04:
            returned = delivered + timedelta(hours=rng.uniform(1, 20))
            self.at(
                delivered,
                "event",
                self._event(f"{order}-del", "order.delivered", delivered, customer, order, items),
            )
            self.at(
                returned,
                "event",
                self._event(f"{order}-ret", "order.returned", returned, customer, order, items),
            )
            return
        self.at(
            delivered,
            "event",
            self._event(f"{order}-del", "order.delivered", delivered, customer, order, items),
        )
        if rng.random() < 0.3:
            closed = delivered + timedelta(days=rng.uniform(0.5, 3))
            event = self._event(f"{order}-tkt", "ticket.closed", closed, customer, order, items)
            event["ticket"] = {"id": f"T-{order}"}
            self.at(closed, "event", event)

    @staticmethod
    def _event(
        event_id: str, kind: str, when: datetime, customer: dict[str, Any], order: str, items: list[Any]
    ) -> dict[str, Any]:
        return {
            "event_id": f"demo-{event_id}",
            "type": kind,
            "occurred_at": when.isoformat(),
            "customer": customer,
            "order": {"id": order, "items": items},
        }

    def _next_timer(self) -> datetime | None:
        return backlog.next_pending_timer(self.db)

    def _feed(self, customer_id: str, inbound: Inbound) -> None:
        result = self.service.feed(customer_id, inbound, via=Address(CHANNEL, customer_id), now=self.now)
        self.unread += sum(isinstance(a, Send) for a in result.actions)

    def _read(self, message: ClaimedMessage) -> None:
        """A customer reads a message and maybe replies later."""
        persona = self.personas.get(message.address)
        rows = message.payload.get("rows") or []
        if persona is None or not rows:
            return
        survey_id = message.payload.get("survey_id")
        assert isinstance(rows, list)
        values = [str(choice["value"]) for row in rows for choice in row]
        rng = self.rng
        delay = timedelta(minutes=rng.expovariate(1 / 90))
        if values and values[0].startswith("score:"):
            if rng.random() > persona.responsive:
                return  # no answer: the reminder and expiry will follow
            self.at(self.now + delay, "answer", (persona.id, survey_id, len(values) - 1))
        elif "skip" in values:
            self.at(self.now + delay / 3, "reason", (persona.id, survey_id, values))
        elif "solved:yes" in values:
            # Some never answer "did we solve it?"; after a "no", many give up: their last answer
            # stays "no" (the report's detractor recovery must show it, CX_METHOD §7).
            silent = 0.4 if persona.id in self.said_no else 0.1
            if rng.random() < silent:
                return
            solved = "solved:yes" if rng.random() < 0.7 else "solved:no"
            if solved == "solved:no":
                self.said_no.add(persona.id)
            self.at(self.now + delay, "button", (persona.id, survey_id, solved))

    def _answer(self, customer_id: str, survey_id: int, top: int) -> None:
        persona = self.personas[customer_id]
        rng = self.rng
        metric = {10: Metric.NPS, 4: Metric.CSAT, 6: Metric.CES}.get(top, Metric.CES)
        roll = rng.random()
        if roll < 0.35:
            score = replies.score_for(rng, metric, persona.mood)
            self._feed(customer_id, ButtonPress(survey_id=survey_id, value=f"score:{score}"))
        elif roll < 0.85:
            score = replies.score_for(rng, metric, persona.mood)
            text = replies.score_text(rng, metric, persona.lang, score)
            if rng.random() < 0.15:
                text = f"{text}, {replies.comment_text(rng, persona.lang, persona.mood).lower()}"
            self._feed(customer_id, CustomerText(text=text))
        elif roll < 0.93:
            self._feed(customer_id, CustomerText(text=replies.unclear_text(rng, persona.lang)))
            score = replies.score_for(rng, metric, persona.mood)
            self.at(self.now + timedelta(minutes=3), "text", (customer_id, str(score)))
        elif roll < 0.98:
            self._feed(customer_id, CustomerText(text=replies.refusal_text(rng, persona.lang)))
        else:
            self._feed(customer_id, CustomerText(text="stop" if rng.random() < 0.5 else "basta"))

    def _reason(self, customer_id: str, survey_id: int, values: list[str]) -> None:
        persona = self.personas[customer_id]
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            text = replies.comment_text(rng, persona.lang, persona.mood)
            self._feed(customer_id, CustomerText(text=text))
        elif roll < 0.8:
            reasons = [v for v in values if v.startswith("reason:")]
            self._feed(customer_id, ButtonPress(survey_id=survey_id, value=rng.choice(reasons)))
        else:
            self._feed(customer_id, ButtonPress(survey_id=survey_id, value="skip"))

    def _happen(self, kind: str, data: Any) -> None:
        if kind == "event":
            ingest_event(self.db, self.service.journey, BusinessEventIn.model_validate(data), self.now)
        elif kind == "start":
            persona = self.personas[data]
            self._feed(data, Started(bound=True, language=Lang(persona.lang)))
        elif kind == "answer":
            self._answer(*data)
        elif kind == "reason":
            self._reason(*data)
        elif kind == "text":
            self._feed(data[0], CustomerText(text=data[1]))
        elif kind == "button":
            self._feed(data[0], ButtonPress(survey_id=data[1], value=data[2]))
        elif kind == "agents":
            self._agents_shift()
            if self.queue:
                self.at(self.now + timedelta(hours=3), "agents", None)

    def _agents_shift(self) -> None:
        """Simulated support agents take fresh escalations and resolve taken ones within hours."""
        if self.desk is None:
            return
        from bot.escalations import desk

        config, app = self.desk
        with self.db.read() as session:
            rows = escalation_store.unresolved(session)
        for row in rows:
            assert row.id is not None
            age = self.now - (row.taken_at or row.opened_at)
            if row.status == "open" and age > timedelta(minutes=self.rng.uniform(15, 240)):
                desk.take(app, config, row.id, "agent-demo", self.now)
                self.unread += 1
            elif row.status == "taken" and age > timedelta(hours=self.rng.uniform(1, 30)):
                desk.resolve(app, config, row.id, "agent-demo", self.now)
                self.unread += 1

    def run(self, progress: Progress, task: TaskID) -> None:
        """Run until nothing is left to happen."""
        while True:
            timer = self._next_timer()
            upcoming = self.queue[0][0] if self.queue else None
            if timer is None and upcoming is None:
                return
            if upcoming is not None and (timer is None or upcoming <= timer):
                when, _, kind, data = heapq.heappop(self.queue)
                self.now = max(self.now, when)
                self._happen(kind, data)
                progress.update(task, advance=1, total=progress.tasks[0].completed + len(self.queue) + 1)
            else:
                assert timer is not None
                self.now = max(self.now, timer)
                if run_due_work(self.service, self.now).get("fed"):
                    self.unread += 1
            if self.unread:
                self.unread = 0
                deliver_local(self.db, CHANNEL, self.now, self._read)


def _print_summary(console: Console, db: Database, service: Service, elapsed: float) -> None:
    journey = service.journey
    rows = {(s.stage, s.metric): s for s in stage_summaries(db)}
    table = Table(title="cxbot demo — where in the journey customers struggle")
    for column in ("stage", "metric", "n", "score"):
        table.add_column(column, justify="right" if column in ("n",) else "left")
    for stage in journey.stages:
        summary = rows.get((stage.id, stage.metric.value))
        table.add_row(
            stage.name.en,
            stage.metric.value.upper(),
            str(summary.n if summary else 0),
            summary.headline if summary else "—",
        )
    console.print(table)
    stored = totals(db)
    console.print(
        f"{stored.answers} answers stored, {stored.escalations} escalations opened, "
        f"{stored.messages} messages sent in {elapsed:.1f}s"
    )


def _demo_desk(db: Database, journey: Journey, service: Service, database: Path) -> tuple[DeskConfig, App]:
    """Return the desk configuration and app the simulated agents use (no Telegram group)."""
    from bot.engine.wiring import App
    from bot.escalations.records import DeskConfig
    from bot.infra.settings import Settings

    settings = Settings(
        database_url=f"sqlite:///{database}", agents_chat_id=None, link_secret=secrets.token_hex(16)
    )
    return DeskConfig.from_settings(settings, journey), App(
        settings=settings, db=db, journey=journey, service=service
    )


def _print_weekly_report(
    console: Console, db: Database, service: Service, now: datetime, database: Path
) -> None:
    """End with the managers' weekly summary: printed, and saved as HTML and PNG beside the database."""
    import html
    import re

    from bot.report import render
    from bot.report.render_text import render_text
    from flows.report import stage_refs
    from storage.report_queries import weekly_report

    with db.read_engine.connect() as conn:
        report = weekly_report(
            conn,
            now=now,
            timezone="Europe/Rome",
            stages=stage_refs(service.journey.stages),
            language="en",
            min_n=10,  # a demo week has tens of answers per stage; production hides n < 30
        )
    for chunk in render_text(report):
        console.print(html.unescape(re.sub(r"<[^>]+>", "", chunk)), highlight=False)
    stem = database.with_suffix("")
    for fmt in ("html", "png"):
        target = Path(f"{stem}-report.{fmt}")
        target.write_bytes(render(report, fmt))
    console.print(f"Weekly report also written to {stem}-report.html and {stem}-report.png")


def run_demo(
    *,
    customers: int,
    seed: int,
    database: Path,
    console: Console | None = None,
    today: datetime | None = None,
) -> Database:
    """Simulate ``customers`` through the journey on a fresh SQLite file and print the summary.

    The simulation covers the 35 days before ``today`` (midnight UTC; default: the current day).
    """
    import time

    console = console or Console()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    db = Database(f"sqlite:///{database}")
    migrate.upgrade(db)
    journey = load_journey(None)
    today = (today or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=35)
    service = Service(db, journey, clock=lambda: start)
    rng = Random(seed)
    simulation = Simulation(service, rng, start)
    simulation.desk = _demo_desk(db, journey, service, database)
    simulation.at(start, "agents", None)
    for index in range(customers):
        simulation.add_customer(index, horizon=timedelta(days=32))
    began = time.perf_counter()
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("demo", total=len(simulation.queue))
        simulation.run(progress, task)
    _print_summary(console, db, service, time.perf_counter() - began)
    _print_weekly_report(console, db, service, today, database)
    return db
