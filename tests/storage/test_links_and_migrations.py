"""Deep-link tokens, and migrations that match the models."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from storage import migrate, repo
from storage.db import Database
from storage.links import deep_link, issue_token, redeem_token
from tests.clocks import FakeClock


def test_token_binds_only_its_customer(db: Database, clock: FakeClock) -> None:
    """A token is long, URL-safe, redeemable by one chat only, and unknown or expired tokens bind nothing."""
    with db.write() as session:
        repo.ensure_customer(session, "c-1", clock.now)
        token = issue_token(session, "c-1", clock.now)
        assert issue_token(session, "c-1", clock.now) == token
    assert len(token) == 32 and all(c.isalnum() or c in "-_" for c in token)
    with db.write() as session:
        assert redeem_token(session, token, "chat-1", clock.now) == "c-1"
        assert redeem_token(session, token, "chat-1", clock.now) == "c-1"
        assert redeem_token(session, token, "chat-2", clock.now) is None
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert redeem_token(session, forged, "chat-3", clock.now) is None
        assert redeem_token(session, "bad token!", "chat-3", clock.now) is None
        other = issue_token(session, "c-1", clock.now)
    with db.write() as session:
        assert redeem_token(session, other, "chat-9", clock.now + timedelta(days=61)) is None
    assert deep_link("@shop_bot", token) == f"https://t.me/shop_bot?start={token}"
    assert deep_link(None, token) is None


def test_migrations_match_the_models(db: Database) -> None:
    """After `db upgrade` the schema equals the SQLModel tables (no model change without a migration)."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_single_migration_head() -> None:
    """The migration history has exactly one head."""
    script = ScriptDirectory.from_config(migrate.alembic_config(Database("sqlite://")))
    assert len(script.get_heads()) == 1
    assert migrate.head_revision() == script.get_current_head()


def test_revisions_read_without_alembic_match_alembics(db: Database) -> None:
    """The shipped revisions read from the files, and the schema's read by plain SQL, are Alembic's."""
    script = ScriptDirectory.from_config(migrate.alembic_config(db))
    assert migrate._shipped() == {s.revision: s.down_revision for s in script.walk_revisions()}
    with db.engine.connect() as connection:
        alembics = MigrationContext.configure(connection).get_current_revision()
    assert migrate.current_revision(db) == alembics == migrate.head_revision()
    assert migrate.schema_problem("0016", migrate.head_revision()) is not None
    assert migrate.schema_problem("9999", migrate.head_revision()) is not None
