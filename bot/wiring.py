"""Building the application's parts from settings (used by the CLI, the server and tests)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, utcnow
from bot.service import Service
from bot.settings import Settings, service_levels
from flows.journey import Journey, load_journey
from storage import migrate
from storage.db import Database


@dataclass
class App:
    """The wired application: settings, database, journey and the service."""

    settings: Settings
    db: Database
    journey: Journey
    service: Service


def build_app(settings: Settings, *, clock: Clock = utcnow, upgrade: bool = True) -> App:
    """Return the application for ``settings``, with the database migrated to the newest schema.

    Raises:
        ConfigError: when the journey, the holiday settings or the database URL are invalid.
        StorageError: when the database cannot be reached or migrated.
    """
    journey = load_journey(settings.journey)
    levels = service_levels(settings, journey.escalation)
    db = Database(settings.database_url)
    if upgrade:
        migrate.upgrade(db)
    service = Service(db, journey, clock=clock, levels=levels)
    return App(settings=settings, db=db, journey=journey, service=service)
