"""Building the application's parts from settings (used by the CLI, the server and tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from bot.engine.service import Service
from bot.engine.timers import due_in_session
from bot.infra.clock import Clock, utcnow
from bot.infra.settings import Settings, service_levels
from flows.journey import Journey, load_journey
from storage import migrate
from storage.db import Database

if TYPE_CHECKING:
    from storage.db import Session
    from storage.tables import Escalation

#: Told of each agent's change of an escalation (take, hand_back, resolve, reply) inside the
#: change's transaction: ``(session, escalation, action, agent, now)``. Connectors (Chatwoot)
#: queue their copy of the change there, so it is stored with the change or not at all.
DeskHook = Callable[["Session", "Escalation", str, str, datetime], None]


@dataclass
class App:
    """The wired application: settings, database, journey and the service."""

    settings: Settings
    db: Database
    journey: Journey
    service: Service
    desk_hooks: list[DeskHook] = field(default_factory=list)


def build_app(
    settings: Settings, *, clock: Clock = utcnow, upgrade: bool = True, upgrade_in_child: bool = False
) -> App:
    """Return the application for ``settings``, with the database migrated to the newest schema
    (``upgrade_in_child``: by a child process, so this one never imports Alembic; ``cxbot serve``).

    Raises:
        ConfigError: when the journey, the holiday settings or the database URL are invalid.
        StorageError: when the database cannot be reached or migrated.
    """
    journey = load_journey(settings.journey)
    levels = service_levels(settings, journey.escalation)
    db = Database(settings.database_url)
    if upgrade and upgrade_in_child:
        migrate.upgrade_in_child(db)
    elif upgrade:
        migrate.upgrade(db)
    service = Service(db, journey, clock=clock, levels=levels)
    service.due_at_start = partial(due_in_session, journey=journey)
    return App(settings=settings, db=db, journey=journey, service=service)
