"""Telegram channel pieces: signed callback data, update parsing, text splitting, the inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels import callbacks
from bot.channels.base import Envelope, Ignored, Unparseable
from bot.channels.telegram.customers import TelegramCustomers
from bot.channels.telegram.transport import split_text
from bot.channels.telegram.updates import Update, command, incoming, read
from bot.channels.telegram.webhook import PATH as WEBHOOK_PATH
from bot.engine.wiring import build_app
from bot.infra.settings import Settings
from bot.runtime.serve import Runtime, build_runtime
from flows.conversation import CustomerText
from flows.errors import ConfigError
from flows.scales import Lang
from storage import inbox
from storage.db import Database

SECRET = callbacks.derive_secret(None, "123:token")
CUSTOMERS = TelegramCustomers(SECRET)
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


def test_callback_data_is_short_signed_and_bound_to_the_chat() -> None:
    """Signed data verifies in its chat only; altered values, other chats and other keys fail."""
    data = callbacks.sign(SECRET, "555", 123456789, "reason:delivery_time")
    assert len(data.encode()) <= 64 and "token" not in data
    assert callbacks.verify(SECRET, "555", data) == callbacks.Press(123456789, "reason:delivery_time")
    assert callbacks.verify(SECRET, "556", data) is None
    assert callbacks.verify(SECRET, "555", data.replace("reason:delivery_time", "reason:price")) is None
    assert callbacks.verify(callbacks.derive_secret("other", "123:token"), "555", data) is None
    assert callbacks.verify(SECRET, "555", "v1.1.score:2") is None
    assert callbacks.verify(SECRET, "555", None) is None
    lang = callbacks.sign(SECRET, "555", None, "lang:en")
    assert callbacks.verify(SECRET, "555", lang) == callbacks.Press(None, "lang:en")
    assert callbacks.derive_secret(None, "123:token") != b"123:token"


def test_commands_and_updates_are_parsed_safely() -> None:
    """Commands with @bot suffixes parse; long texts are cut at 4096; unknown kinds are ignored."""
    assert command("/start abc_DEF-1") == ("start", "abc_DEF-1")
    assert command("/Lingua@cxbot_test_bot en") == ("lingua", "en")
    assert command("hello /start") is None
    chat = {"id": 9, "type": "private", "first_name": "A"}
    user = {"id": 9, "is_bot": False, "first_name": "A", "language_code": "en-GB"}
    message = {"message_id": 1, "date": 0, "chat": chat, "from": user, "text": "x" * 5000}
    parsed = CUSTOMERS.parse({"update_id": 1, "message": message})
    assert isinstance(parsed, Envelope) and isinstance(parsed.inbound, CustomerText)
    assert len(parsed.inbound.text) == 4096 and parsed.language_hint == Lang.EN
    read_back = read({"update_id": 1, "message": message})
    assert isinstance(read_back, Update) and read_back.user is not None
    assert read_back.user.language_code == "en-GB"
    press = {"id": "q1", "from": user, "chat_instance": "c", "data": "d", "message": message}
    pressed = read({"update_id": 2, "callback_query": press})
    assert isinstance(pressed, Update) and (pressed.kind, pressed.query_id, pressed.data) == (
        "callback_query",
        "q1",
        "d",
    )
    assert _ignored(CUSTOMERS.parse({"update_id": 3, "poll": {"id": "p"}}))
    assert isinstance(CUSTOMERS.parse({"update_id": 4, "message": "garbage"}), Unparseable)
    group = dict(message, chat={"id": -5, "type": "group", "title": "g"})
    assert _ignored(CUSTOMERS.parse({"update_id": 5, "message": group}))
    assert incoming({"message": message}) is None
    row = incoming({"update_id": 6, "message": message})
    assert row is not None and (row.external_id, row.chat_key) == ("6", "9")


def test_updates_read_only_the_fields_cxbot_uses() -> None:
    """Fields cxbot does not read are ignored; a press on an old (inaccessible) message still parses;
    a wrong type in a field cxbot reads makes the update unparseable, not an error."""
    chat = {"id": 9, "type": "private"}
    user = {"id": 9, "is_bot": False, "first_name": "A"}
    message = {"message_id": 1, "date": 0, "chat": chat, "from": user, "text": "4", "new_field": [1]}
    assert CUSTOMERS.parse({"update_id": 1, "message": message, "future_kind": {}}) == Envelope(
        "telegram", "9", CustomerText(text="4"), None, message_id=1
    )
    old = {"message_id": 7, "date": 0, "chat": chat}  # Telegram's InaccessibleMessage
    press = {"id": "q1", "from": dict(user, language_code="it"), "chat_instance": "c", "message": old}
    pressed = read({"update_id": 2, "callback_query": press})
    assert isinstance(pressed, Update) and pressed.user is not None
    assert (pressed.chat_id, pressed.query_id, pressed.message_id, pressed.data) == (9, "q1", 7, None)
    assert pressed.user.language_code == "it"
    nine = {"update_id": 3, "message": dict(message, chat={"id": "nine", "type": "private"})}
    assert isinstance(CUSTOMERS.parse(nine), Unparseable)
    assert isinstance(CUSTOMERS.parse({"update_id": 4, "callback_query": dict(press, id=None)}), Unparseable)
    assert isinstance(CUSTOMERS.parse({"update_id": "x", "message": message}), Unparseable)
    sticker = dict(message)
    del sticker["text"]
    assert _ignored(CUSTOMERS.parse({"update_id": 5, "message": sticker}))


def _ignored(parsed: object) -> bool:
    return isinstance(parsed, Envelope) and isinstance(parsed.inbound, Ignored)


def test_split_text_at_line_boundaries() -> None:
    """Texts over the limit are cut at line ends; a single overlong line is cut hard."""
    assert split_text("short") == ["short"]
    parts = split_text("aaaa\nbbbb\ncccc", limit=10)
    assert parts == ["aaaa\nbbbb", "cccc"]
    assert split_text("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_inbox_drops_repeats_and_serves_each_chat_in_order(db: Database) -> None:
    """A repeated update_id is stored once; only the oldest unprocessed update of a chat is claimable."""
    rows = [
        inbox.Incoming("1", "chat-a", {"n": 1}),
        inbox.Incoming("2", "chat-a", {"n": 2}),
        inbox.Incoming("3", "chat-b", {"n": 3}),
    ]
    assert inbox.store(db, "telegram", rows, NOW) == 3
    assert inbox.store(db, "telegram", rows[:1], NOW) == 0
    first = inbox.claim(db, "telegram", NOW)
    assert [u.external_id for u in first] == ["1", "3"]
    assert inbox.claim(db, "telegram", NOW) == []  # leased, and chat-a's next waits for its first
    with db.write() as session:
        inbox.mark_processed(session, first[0].id, NOW)
    assert [u.external_id for u in inbox.claim(db, "telegram", NOW)] == ["2"]
    later = NOW + timedelta(minutes=5)  # the leases expired (crashed worker): taken over
    assert [(u.external_id, u.attempts) for u in inbox.claim(db, "telegram", later)] == [("2", 2), ("3", 2)]


def test_build_runtime_wires_telegram_when_configured(tmp_path: Path) -> None:
    """With a token the runtime gets the Telegram component (and the webhook route in webhook mode)."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    plain = build_runtime(build_app(Settings(database_url=url)))
    polling = build_runtime(build_app(Settings(database_url=url, telegram_token="1:a")))
    assert len(polling.components) == len(plain.components) + 1

    def paths(runtime: Runtime) -> set[str]:
        return {getattr(r, "path", "") for router in runtime.routers for r in router.routes}

    assert WEBHOOK_PATH not in paths(polling)
    hooked = build_runtime(
        build_app(
            Settings(
                database_url=url, telegram_token="1:a", public_url="https://bot.example", webhook_secret="s"
            )
        )
    )
    assert WEBHOOK_PATH in paths(hooked)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        build_runtime(build_app(Settings(database_url=url, telegram_token="1:a", public_url="https://x")))
