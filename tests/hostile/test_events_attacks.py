"""POST /v1/events attacked: forged, stale, replayed signatures; control characters; parallel deliveries."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import SQLModel, func, select
from structlog.testing import capture_logs

from bot.api.app import create_api
from bot.api.events import SIGNATURE_HEADER, sign
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.infra.settings import Settings
from bot.observability.metrics import LEGACY_SIGNATURES
from bot.security.signatures import check_timestamp, sign_legacy, sign_timestamped, verify
from flows.errors import AuthError
from flows.journey import Journey
from storage import migrate
from storage.db import Database
from storage.links import redeem_token
from storage.tables import BusinessEvent, ChannelIdentity, Customer, LinkToken
from tests.conftest import drop_pg_database, make_pg_database
from tests.hostile.conftest import Tally
from tests.hostile.workers import api_workers

SECRET = "hostile-events-secret"
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
TS = int(NOW.timestamp())


def _client(db: Database, journey: Journey, now: datetime = NOW) -> httpx.AsyncClient:
    settings = Settings(database_url=db.url, events_secret=SECRET, telegram_bot_username="moka_bot")
    app = App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=lambda: now))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api(app)), base_url="http://testserver")


def _body(event_id: str = "evt-1", customer: str = "c-1", **fields: object) -> bytes:
    event: dict[str, object] = {
        "event_id": event_id,
        "type": "order.delivered",
        "occurred_at": (NOW - timedelta(hours=3)).isoformat(),
        "customer": {"id": customer, "name": "Giulia Rossi", "language": "it"},
        "order": {"id": f"o-{event_id}"},
    }
    for path, value in fields.items():
        target: dict[str, object] = event
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]  # type: ignore[assignment]
        target[leaf] = value
    return json.dumps(event).encode()


async def _post(client: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return await client.post("/v1/events", content=body, headers=headers)


def _count(db: Database, model: type[SQLModel]) -> int:
    with db.read() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


# --- the signature module (reused by connectors) ------------------------------------------------


def test_timestamp_tolerance_is_five_minutes_either_way() -> None:
    """A timestamp 300 s off either way passes; 301 s off is refused, naming the skew."""
    check_timestamp(TS - 300, NOW)
    check_timestamp(TS + 300, NOW)
    with pytest.raises(AuthError, match="301 s old"):
        check_timestamp(TS - 301, NOW)
    with pytest.raises(AuthError, match="in the future"):
        check_timestamp(TS + 301, NOW)


def test_signature_covers_timestamp_and_body() -> None:
    """Changing t, the body, or the key breaks a v1 signature; a key rotation may list two v1 values."""
    body = b'{"a":1}'
    good = sign_timestamped(SECRET, body, TS)
    assert verify(SECRET, body, good, NOW).scheme == "v1"
    forged_t = good.replace(f"t={TS}", f"t={TS + 1}")
    for secret, payload, header in (
        (SECRET, body, forged_t),
        (SECRET, b'{"a":2}', good),
        ("other", body, good),
        (SECRET, body, f"v1={good.split('v1=')[1]}"),
        (SECRET, body, f"t={TS}"),
        (SECRET, body, "t=abc,v1=00"),
    ):
        with pytest.raises(AuthError):
            verify(secret, payload, header, NOW)
    rotated = f"t={TS},v1={'0' * 64},v1={good.split('v1=')[1]}"
    assert verify(SECRET, body, rotated, NOW).timestamp == TS


# --- over HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def api(db: Database, journey: Journey) -> httpx.AsyncClient:
    """Return a client of the events API on each database, the server's clock at NOW."""
    return _client(db, journey)


async def test_forged_and_stale_signatures_are_refused(
    api: httpx.AsyncClient, db: Database, tally: Tally
) -> None:
    """Wrong key, another body, stale or future t, missing/garbled header: 401 each, nothing stored."""
    body = _body()
    forgeries = [
        None,
        "",
        "t=,v1=",
        "garbage",
        sign("wrong-key", body, TS),
        sign(SECRET, _body("evt-other"), TS),
        sign(SECRET, body, TS - 301),  # captured more than 5 minutes ago
        sign(SECRET, body, TS + 301),
        sign(SECRET, body, TS).replace(f"t={TS}", f"t={TS - 10}"),  # t moved, MAC kept
        sign_legacy("wrong-key", body),
        "sha256=" + "0" * 64,
        "sha256=",
    ]
    for signature in forgeries:
        answer = await _post(api, body, signature)
        tally.probe(answer.status_code, forgery=True)
        assert answer.status_code == 401, (signature, answer.text)
        assert answer.json()["error"] == "unauthorized"
    assert _count(db, BusinessEvent) == 0


async def test_legacy_signature_is_accepted_logged_and_counted(
    api: httpx.AsyncClient, db: Database, tally: Tally
) -> None:
    """The old sha256=<hex> header still works for one release: a warning is logged and counted."""
    before = LEGACY_SIGNATURES.labels("events")._value.get()
    body = _body()
    with capture_logs() as logs:
        answer = await _post(api, body, sign_legacy(SECRET, body))
    tally.probe(answer.status_code)
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    assert LEGACY_SIGNATURES.labels("events")._value.get() == before + 1
    assert [e["log_level"] for e in logs if e["event"] == "legacy_signature"] == ["warning"]


async def test_replay_never_mints_a_new_deep_link(api: httpx.AsyncClient, db: Database, tally: Tally) -> None:
    """A replay (same body, same t) is a duplicate without a link, even after the chat was blocked."""
    body = _body()
    signature = sign(SECRET, body, TS)
    first = await _post(api, body, signature)
    tally.probe(first.status_code)
    link = first.json()["deep_link"]
    assert link and first.json()["status"] == "accepted"
    token = link.rsplit("=", 1)[1]
    with db.write() as session:  # the customer presses Start, then blocks the bot
        assert redeem_token(session, token, "9001", NOW) == "c-1"
        session.add(
            ChannelIdentity(
                customer_id="c-1",
                channel="telegram",
                address="9001",
                blocked_at=NOW,
                last_seen_at=NOW,
                created_at=NOW,
            )
        )
    for _ in range(3):
        replay = await _post(api, body, signature)
        tally.probe(replay.status_code, forgery=replay.json().get("deep_link") is not None)
        assert replay.status_code == 200
        assert replay.json() == {"status": "duplicate", "deep_link": None, "scheduled": []}
    assert _count(db, LinkToken) == 1
    with db.write() as session:  # the used token binds no other chat
        assert redeem_token(session, token, "6666", NOW) is None


async def test_expired_token_binds_nothing(db: Database) -> None:
    """A start token past its expiry binds no chat, even unused."""
    from storage.links import TOKEN_TTL, issue_token

    with db.write() as session:
        session.add(Customer(id="c-exp", created_at=NOW, updated_at=NOW))
        session.flush()
        token = issue_token(session, "c-exp", NOW)
    with db.write() as session:
        assert redeem_token(session, token, "77", NOW + TOKEN_TTL + timedelta(seconds=1)) is None
        assert redeem_token(session, token, "77", NOW) == "c-exp"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("customer__name", "Giu\u0000lia", "customer.name"),
        ("customer__id", "c-\u00001", "customer.id"),
        ("order__id", "o\u00001", "order.id"),
        ("event_id", "evt\u0000-1", "event_id"),
        ("customer__name", "Giulia\u001b[31m", "customer.name"),
        ("customer__name", "Giu\u0085lia", "customer.name"),
        ("order__items", [{"name": "Moka\u0007"}], "order.items[0].name"),
    ],
)
async def test_control_characters_are_422_naming_the_field(
    api: httpx.AsyncClient, db: Database, tally: Tally, field: str, value: Any, named: str
) -> None:
    """NUL, ESC, BEL and C1 controls in stored fields: 422 naming the field, never 500, nothing stored."""
    body = _body(**{field: value})
    answer = await _post(api, body, sign(SECRET, body, TS))
    tally.probe(answer.status_code)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == named
    assert _count(db, BusinessEvent) == 0


async def test_parallel_deliveries_in_one_process_answer_duplicate(
    api: httpx.AsyncClient, db: Database, tally: Tally
) -> None:
    """The same event 8 times at once, and 8 events of one new customer at once: no 5xx."""
    body = _body("evt-par", "c-par")
    answers = await asyncio.gather(*(_post(api, body, sign(SECRET, body, TS)) for _ in range(8)))
    statuses = Counter(a.json().get("status", a.status_code) for a in answers)
    for a in answers:
        tally.probe(a.status_code)
    assert statuses == Counter({"accepted": 1, "duplicate": 7}), statuses


# --- two worker processes ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Database, list[str]]]:
    """Two uvicorn processes on 127.0.0.1 serving the API on one database (SQLite file, PostgreSQL)."""
    if request.param == "sqlite":
        url, name, admin = f"sqlite:///{tmp_path / 'shared.db'}", None, None
    else:
        admin = request.getfixturevalue("pg_server")
        url, name = make_pg_database(admin)
    db = Database(url)
    migrate.upgrade(db)
    try:
        with api_workers(url, 2, NOW, SECRET, tmp_path) as bases:
            yield db, bases
    finally:
        db.dispose()
        if name is not None and admin is not None:
            drop_pg_database(admin, name)


N = 6
ROUNDS = 5


async def _fire(bases: list[str], bodies: list[bytes]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post(
                    f"{bases[i % 2]}/v1/events",
                    content=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, body, TS)},
                )
                for i, body in enumerate(bodies)
            )
        )


@pytest.mark.slow
async def test_same_event_at_two_workers_is_accepted_once(
    two_workers: tuple[Database, list[str]], tally: Tally
) -> None:
    """N copies of one event at two workers, known and new customer: 1 accepted, N-1 duplicate, 0 5xx."""
    db, bases = two_workers
    first = _body("evt-known-0", "c-known")
    assert (await _fire(bases, [first]))[0].json()["status"] == "accepted"
    outcomes: Counter[str] = Counter()
    for r in range(ROUNDS):
        for customer in ("c-known", f"c-new-{r}"):  # a new customer races on customers_pkey too
            body = _body(f"evt-{customer}-{r}", customer)
            answers = await _fire(bases, [body] * N)
            for a in answers:
                tally.probe(a.status_code)
            statuses = Counter(
                str(a.json().get("status")) if a.status_code == 200 else str(a.status_code) for a in answers
            )
            assert statuses == Counter({"accepted": 1, "duplicate": N - 1}), (customer, r, statuses)
            outcomes.update(statuses)
    assert outcomes["accepted"] == 2 * ROUNDS
    assert _count(db, BusinessEvent) == 1 + 2 * ROUNDS
    assert _count(db, Customer) == 1 + ROUNDS


@pytest.mark.slow
async def test_events_of_one_new_customer_at_two_workers_all_accepted(
    two_workers: tuple[Database, list[str]], tally: Tally
) -> None:
    """N different events of one new customer and one new order at once across two workers: all accepted."""
    db, bases = two_workers
    bodies = [_body(f"evt-many-{i}", "c-fresh", order__id="o-shared") for i in range(N)]
    answers = await _fire(bases, bodies)
    for a in answers:
        tally.probe(a.status_code)
    assert [a.status_code for a in answers] == [200] * N, [a.text for a in answers if a.status_code != 200]
    assert {a.json()["status"] for a in answers} == {"accepted"}
    assert _count(db, Customer) == 1
