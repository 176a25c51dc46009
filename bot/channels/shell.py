"""``cxbot shell``: the customer's side in the terminal, like ``rasa shell``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from rich.console import Console

from bot.delivery.local import deliver_local
from bot.engine.apply import Address
from bot.engine.timers import run_due_work
from bot.engine.wiring import App
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.clock import Clock, utcnow
from flows.conversation import ButtonPress, Command, CommandName, CustomerText, Inbound, Started
from flows.errors import CxbotError
from flows.scales import Lang
from storage import event_facts
from storage.claims import ClaimedMessage
from storage.tables import DueWork, SurveyInstance

CHANNEL = "shell"
EVENT_ALIASES = {
    "placed": "order.placed",
    "delivered": "order.delivered",
    "ticket": "ticket.closed",
    "repurchase": "order.repurchased",
    "returned": "order.returned",
}
_HELP = (
    "Type as the customer would. Commands: /event placed|delivered|ticket|repurchase|returned "
    "(the business event happens now and its survey is due at once, unless the frequency caps, "
    "an open case or another question hold it: the shell says which), /first_use (the NPS after "
    "first use), /tap N (press button N), /help, /lang it|en, /stop, /start, /quit."
)

#: What held a survey back, in the words the shell prints.
_HELD_BY = {
    "cap_24h": "the 24 h cap (one survey a day)",
    "cap_metric_7d": "the 7-day cap on the same metric",
    "cap_relationship_90d": "the 90-day cap on relationship NPS",
    "escalation_open": "an open case",
    "ticket_open": "an open support ticket",
    "collision": "another survey due at the same time",
    "quiet_hours": "quiet hours",
}


class ShellSession:
    """One customer chatting in the terminal; keeps the buttons last shown for /tap."""

    def __init__(
        self,
        app: App,
        customer_id: str,
        language: str,
        console: Console | None = None,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.app = app
        self.clock = clock
        self.customer_id = customer_id
        self.language = language
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.address = Address(CHANNEL, customer_id)
        self.buttons: list[tuple[int | None, str]] = []
        self.order_seq = 0

    def show(self, message: ClaimedMessage) -> None:
        """Print a bot message with its choices drawn as numbered buttons."""
        payload = message.payload
        self.console.print(f"[bold cyan]bot>[/] {payload.get('text', '')}")
        rows = payload.get("rows") or []
        assert isinstance(rows, list)
        if rows:
            self.buttons = []
            for row in rows:
                cells = []
                for choice in row:
                    self.buttons.append((payload.get("survey_id"), choice["value"]))  # type: ignore[arg-type]
                    cells.append(f"[reverse] {len(self.buttons)}: {choice['label']} [/]")
                self.console.print("     " + " ".join(cells))

    def flush(self) -> None:
        """Run due timers, then print what the bot sent."""
        now = self.clock()
        # Trying flows in the terminal: no quiet hours, the survey comes at once.
        run_due_work(self.app.service, now, quiet=None)
        deliver_local(self.app.db, CHANNEL, now, self.show)

    def feed(self, inbound: Inbound) -> None:
        """Send ``inbound`` to the bot as this customer and print the replies."""
        self.app.service.feed(self.customer_id, inbound, via=self.address, now=self.clock())
        self.flush()

    def event(self, name: str) -> None:
        """Make a business event happen now, back-dated so its survey is due at once."""
        if name == "first_use":
            name, stage_id = "delivered", "first_use"
        else:
            stage_id = None
        event_type = EVENT_ALIASES.get(name)
        if event_type is None:
            self.console.print(f"[red]unknown event {name!r}[/]; try: {', '.join(EVENT_ALIASES)}")
            return
        stages = self.app.journey.triggered_by(event_type)
        if stage_id is None:
            stages = tuple(s for s in stages if s.id != "first_use") or stages
        delay = max((s.delay for s in stages), default=timedelta(0))
        if event_type.startswith("order.") and event_type != "order.returned":
            self.order_seq += 1
        event = BusinessEventIn.model_validate(
            {
                "event_id": f"shell-{uuid.uuid4().hex[:12]}",
                "type": event_type,
                "occurred_at": (self.clock() - delay - timedelta(seconds=1)).isoformat(),
                "customer": {"id": self.customer_id, "language": self.language},
                "order": {"id": f"S{1000 + self.order_seq}", "items": [{"name": "Moka 6 tazze"}]},
                "ticket": {"id": f"T-{self.order_seq}"} if event_type.startswith("ticket.") else None,
            }
        )
        result = ingest_event(self.app.db, self.app.journey, event, self.clock(), quiet=None)
        if not result.scheduled and not result.expired:
            self.console.print(
                f"[dim]({event_type}: no survey for this event; sampled out or none designed)[/]"
            )
        self.flush()
        for line in self.outcomes(event.event_id):
            self.console.print(f"[dim]({event_type}: {line})[/]")

    def outcomes(self, event_id: str) -> list[str]:
        """Return what happened to each survey of the event: asked, scheduled, held until, skipped."""
        with self.app.db.read() as session:
            planned = event_facts.surveys_of_event(session, event_id)
        return [f"{survey.stage}: {self._outcome(survey, timer)}" for survey, timer in planned]

    def _outcome(self, survey: SurveyInstance, timer: DueWork | None) -> str:
        status, reason = survey.status, survey.reason
        if status == "sent":
            return "asked now"
        if status == "queued":
            return "queued behind the open question"
        if status == "expired":
            held = _HELD_BY.get(reason or "", reason or "")
            return "skipped: expired" + (
                f" (held by {held} past its deadline)" if reason != "expired" else ""
            )
        if status in ("skipped", "cancelled"):
            return f"{status}: {reason or 'no reason given'}"
        if status == "scheduled" and timer is not None:
            zone = self.app.settings.company_timezone
            at = f"{timer.due_at.astimezone(ZoneInfo(zone)).strftime('%a %d %b %H:%M')} {zone}"
            if timer.status == "waiting":
                return "waiting for the customer to start the bot"
            if reason in _HELD_BY:
                return f"held by {_HELD_BY[reason]} until {at}"
            return f"scheduled at {at}"
        return status

    def handle(self, line: str) -> bool:
        """Handle one typed line; return False when the customer quits."""
        text = line.strip()
        if not text:
            return True
        word, _, arg = text.partition(" ")
        lowered = word.lower()
        if lowered in ("/quit", "/exit"):
            return False
        if lowered == "/event":
            self.event(arg.strip().lower())
        elif lowered == "/first_use":
            self.event("first_use")
        elif lowered == "/tap":
            index = int(arg) - 1 if arg.strip().isdigit() else -1
            if not 0 <= index < len(self.buttons):
                self.console.print("[red]no such button[/]")
            else:
                survey_id, value = self.buttons[index]
                self.feed(ButtonPress(survey_id=survey_id, value=value))
        elif lowered in ("/help", "/aiuto"):
            self.feed(Command(name=CommandName.HELP))
        elif lowered in ("/lang", "/language", "/lingua"):
            self.feed(Command(name=CommandName.LANGUAGE, argument=arg))
        elif lowered == "/privacy":
            self.feed(Command(name=CommandName.PRIVACY))
        elif lowered == "/stop":
            self.feed(Command(name=CommandName.STOP))
        elif lowered == "/start":
            self.feed(Started(bound=True, language=Lang(self.language)))
        elif lowered == "/shellhelp":
            self.console.print(_HELP)
        else:
            self.feed(CustomerText(text=text[:4096]))
        return True


def run_shell(app: App, *, customer_id: str, language: str, fresh: bool = False) -> None:
    """Run the interactive loop until /quit or end of input."""
    session = ShellSession(app, customer_id, language)
    session.console.print(f"[bold]cxbot shell[/] — you are customer {customer_id!r}. {_HELP} (/shellhelp)")
    if fresh:
        session.console.print(
            "[dim](--fresh: a new, temporary database; nothing from earlier sessions applies)[/]"
        )
    else:
        session.console.print(
            "[dim](this customer's earlier surveys, caps and cases in the database still apply; "
            "--fresh starts clean)[/]"
        )
    session.feed(Started(bound=True, language=Lang(language)))
    while True:
        try:
            line = session.console.input("[bold green]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            session.console.print()
            break
        try:
            if not session.handle(line):
                break
        except CxbotError as exc:
            session.console.print(f"[red]{exc}[/]")
    app.db.dispose()
