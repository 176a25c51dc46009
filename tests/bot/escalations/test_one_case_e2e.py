"""One case per customer and order, through aiogram and the fake Bot API, in Italian and English."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.processor import ProcessorConfig
from bot.delivery.sender import MemoryRateLimiter, SenderConfig
from bot.engine.wiring import App, build_app
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.clock import utcnow
from bot.infra.settings import Settings
from bot.infra.supervision import Supervisor
from bot.runtime.serve import Runtime
from storage.tables import Escalation
from tests.clocks import tuesday_morning
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "123456:TEST-token"
CHAT = 555_077
AGENTS = -100_778
AGENT = 4_002

#: What the customer taps and types, and what the card must show, per language.
SCRIPT: dict[str, dict[str, str]] = {
    "it": {
        "reason": "Pacco danneggiato",
        "complaint": "La scatola era sfondata e la moka è ammaccata.",
        "caption": "Ecco la foto del pacco",
        "human": "🙋 Parla con una persona",
        "stage": "Fase: Consegna",
        "topic": "Articolo danneggiato",
        "human_line": "Ha chiesto di parlare con una persona",
        "take": "✋ Prendo io",
        "resolve": "✅ Risolta",
        "yes": "👍 Sì",
        "already_open": "già aperta",
        "added": "l'ho aggiunto alla tua segnalazione",
        "agent_reply": "Ci scusiamo! Oggi spediamo una moka nuova, senza costi.",
        "customer_thanks": "Grazie mille, gentilissimi",
        "solved_card": "Problema risolto? Risposta: sì ✅",
        "solved_thanks": "Ottimo, grazie per avercelo detto!",
    },
    "en": {
        "reason": "Damaged parcel",
        "complaint": "The box was crushed and the moka pot is dented.",
        "caption": "Here is the photo of the parcel",
        "human": "🙋 Talk to a person",
        "stage": "Stage: Delivery",
        "topic": "Damaged item",
        "human_line": "Asked to talk to a person",
        "take": "✋ Take",
        "resolve": "✅ Resolve",
        "yes": "👍 Yes",
        "already_open": "already open",
        "added": "I've added this to your case",
        "agent_reply": "We're sorry! We're sending you a new moka pot today, free of charge.",
        "customer_thanks": "Thank you so much, very kind",
        "solved_card": "The customer says: solved ✅",
        "solved_thanks": "Great, thanks for letting us know!",
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["it", "en"])
async def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[App, FakeBotAPI, str]]:
    """A running ``cxbot serve`` whose agents' desk and customer speak the same language."""
    lang = request.param
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        api.add_chat(AGENTS, "supergroup", title="Agents")
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{tmp_path / 'tg.db'}",
            telegram_token=TOKEN,
            telegram_api_url=api.url,
            link_secret="link-secret",
            http_port=_free_port(),
            agents_chat_id=AGENTS,
            agent_ids=[AGENT],
            desk_language=lang,
        )
        app = build_app(settings, clock=tuesday_morning())
        channel = TelegramChannel(
            app,
            processor=ProcessorConfig(idle_interval=0.05),
            sender=SenderConfig(idle_interval=0.05),
            limiter=MemoryRateLimiter(per_chat_interval=0.01, per_group_per_min=6000),
            poll_timeout=1,
            supervisor=(supervisor := Supervisor()),
        )
        runtime = Runtime(app=app, due_work_interval=0.1, supervisor=supervisor, channels=[channel])
        stop = asyncio.Event()
        task = asyncio.create_task(runtime.run(stop))
        await api.wait_for("setMyCommands", 3)
        try:
            yield app, api, lang
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)


def _buttons(markup: dict[str, Any] | None) -> dict[str, str]:
    rows = (markup or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def _until(check: Callable[[], Any], what: str, timeout: float = 8.0) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def transcript(api: FakeBotAPI, said: list[tuple[int, str]]) -> str:
    """Return the conversation as the customer and the agents saw it, in order (for the closing note)."""
    lines: list[tuple[int, str]] = list(said)
    for index, call in enumerate(api.calls):
        if not call.ok or call.method not in ("sendMessage", "editMessageText", "answerCallbackQuery"):
            continue
        params = call.params
        if call.method == "answerCallbackQuery":
            if params.get("text"):
                lines.append((index, f"  (pop-up) {params['text']}"))
            continue
        who = "BOT → customer" if params.get("chat_id") == CHAT else "BOT → agents"
        if call.method == "editMessageText":
            verb = "edits the card" if params.get("chat_id") == AGENTS else "edits its message"
        else:
            verb = "sends"
        buttons = " ".join(f"[{b}]" for b in _buttons(params.get("reply_markup")))
        body = str(params.get("text", "")).replace("\n", "\n      ")
        lines.append((index, f"{who} ({verb}):\n      {body}" + (f"\n      {buttons}" if buttons else "")))
    return "\n".join(text for _, text in sorted(lines, key=lambda item: item[0]))


async def test_one_case_edited_through_reason_words_photo_and_person(
    served: tuple[App, FakeBotAPI, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Low tap, reason, typed complaint, photo, "talk to a person": one card, edited, then all closed."""
    app, api, lang = served
    words = SCRIPT[lang]
    said: list[tuple[int, str]] = []

    def customer(text: str) -> None:
        said.append((len(api.calls), f"CUSTOMER ▶ {text}"))

    def agent(text: str) -> None:
        said.append((len(api.calls), f"AGENT ({AGENT}) ▶ {text}"))

    now = app.service.clock()
    event = BusinessEventIn.model_validate(
        {
            "event_id": f"evt-case-{lang}",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-case", "name": "Sara", "language": lang, "telegram_chat_id": CHAT},
            "order": {"id": "o-1001", "items": [{"name": "Moka"}]},
        }
    )
    api.add_chat(CHAT)
    ingest_event(app.db, app.journey, event, now)
    (question,) = await api.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and c.params["chat_id"] == CHAT, timeout=8
    )
    customer("[taps 2]")
    api.push_callback(CHAT, question.result["message_id"], _buttons(question.params["reply_markup"])["2"])

    (card,) = await api.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and c.params["chat_id"] == AGENTS, timeout=8
    )
    card_id = card.result["message_id"]
    assert "o-1001" in card.params["text"] and words["stage"] in card.params["text"]
    (follow_up,) = await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.ok
            and c.params["chat_id"] == CHAT
            and words["reason"] in _buttons(c.params.get("reply_markup"))
        ),
        timeout=8,
    )

    def card_text() -> str:
        return str(next(m for m in api.chat_messages(AGENTS) if m["message_id"] == card_id).get("text", ""))

    customer(f"[taps “{words['reason']}”]")
    reason = _buttons(follow_up.params["reply_markup"])[words["reason"]]
    api.push_callback(CHAT, follow_up.result["message_id"], reason, language_code=lang)
    await _until(lambda: words["topic"] in card_text() and "P1" in card_text(), "the reason on the card")
    (thanks,) = await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.ok
            and c.params["chat_id"] == CHAT
            and words["human"] in _buttons(c.params.get("reply_markup"))
        ),
        timeout=8,
    )

    customer(words["complaint"])
    api.push_message(CHAT, words["complaint"], language_code=lang)
    await _until(lambda: words["complaint"] in card_text(), "the typed complaint on the card")
    await api.wait_for(
        lambda c: (
            c.method == "sendMessage" and c.params["chat_id"] == CHAT and words["added"] in c.params["text"]
        ),
        timeout=8,
    )

    customer(f"[photo] {words['caption']}")
    api.push_update(
        {
            "message": {
                "message_id": 90_001,
                "from": {"id": CHAT, "is_bot": False, "first_name": "Sara", "language_code": lang},
                "date": int(utcnow().timestamp()),  # the suite's pinned clock
                "chat": {"id": CHAT, "type": "private", "first_name": "Sara"},
                "photo": [{"file_id": "ph-1", "file_unique_id": "u-ph-1", "width": 90, "height": 90}],
                "caption": words["caption"],
            }
        }
    )
    await _until(lambda: words["caption"] in card_text(), "the photo's caption on the card")

    customer(f"[taps “{words['human']}”]")
    api.push_callback(
        CHAT,
        thanks.result["message_id"],
        _buttons(thanks.params["reply_markup"])[words["human"]],
        language_code=lang,
    )
    await _until(lambda: words["human_line"] in card_text(), "the request for a person on the card")
    await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.params["chat_id"] == CHAT
            and words["already_open"] in c.params["text"]
        ),
        timeout=8,
    )

    with app.db.read() as session:
        cases = session.exec(select(Escalation)).all()
    assert len(cases) == 1
    (case,) = cases
    assert (case.order_id, case.stage, case.priority) == ("o-1001", "delivered", "p1")
    assert case.human_requested and "damaged" in case.topics
    agent_cards = [c for c in api.calls_of("sendMessage") if c.ok and c.params["chat_id"] == AGENTS]
    assert len(agent_cards) == 1  # one card, edited each time
    assert len([c for c in api.calls_of("editMessageText") if c.params["chat_id"] == AGENTS]) >= 4

    agent(f"[taps “{words['take']}”]")
    api.push_callback(
        AGENTS, card_id, _buttons(api.chat_messages(AGENTS)[0]["reply_markup"])[words["take"]], user_id=AGENT
    )
    await _until(
        lambda: words["resolve"] in _buttons(_card(api, card_id).get("reply_markup")) and "🟡" in card_text(),
        "taken",
    )
    agent(f"[replies to the card] {words['agent_reply']}")
    api.push_message(
        AGENTS, words["agent_reply"], user_id=AGENT, chat_type="supergroup", reply_to_message_id=card_id
    )
    await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.params["chat_id"] == CHAT
            and c.params["text"] == words["agent_reply"]
        ),
        timeout=8,
    )
    customer(words["customer_thanks"])
    api.push_message(CHAT, words["customer_thanks"], language_code=lang)
    await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.params["chat_id"] == AGENTS
            and words["customer_thanks"] in c.params["text"]
        ),
        timeout=8,
    )
    agent(f"[taps “{words['resolve']}”]")
    api.push_callback(
        AGENTS, card_id, _buttons(_card(api, card_id)["reply_markup"])[words["resolve"]], user_id=AGENT
    )
    (closing,) = await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.ok
            and c.params["chat_id"] == CHAT
            and words["yes"] in _buttons(c.params.get("reply_markup"))
        ),
        timeout=8,
    )
    customer(f"[taps “{words['yes']}”]")
    api.push_callback(
        CHAT,
        closing.result["message_id"],
        _buttons(closing.params["reply_markup"])[words["yes"]],
        language_code=lang,
    )

    def closed() -> bool:
        with app.db.read() as session:
            rows = session.exec(select(Escalation)).all()
        return len(rows) == 1 and rows[0].status == "resolved" and rows[0].closing_answer == "yes"

    await _until(closed, "the case resolved and answered")
    await _until(lambda: words["solved_card"] in card_text(), "the closing answer on the card")
    await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.params["chat_id"] == CHAT
            and c.params["text"] == words["solved_thanks"]
        ),
        timeout=8,
    )
    assert (
        len(
            [
                c
                for c in api.calls_of("sendMessage")
                if c.ok and c.params["chat_id"] == AGENTS and "reply_markup" in c.params
            ]
        )
        == 1
    )
    state = app.service.state_of("c-case")
    assert state is not None and not state.case_open and state.handoff is None and state.closing is None
    with capsys.disabled():
        print(f"\n===== transcript ({lang}) =====\n{transcript(api, said)}\n")


def _card(api: FakeBotAPI, card_id: int) -> dict[str, Any]:
    return next(m for m in api.chat_messages(AGENTS) if m["message_id"] == card_id)
