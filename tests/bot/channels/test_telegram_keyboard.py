"""Inline keyboards as the Telegram transport sends them: JSON built once per question template,
signed per chat, read back by aiogram and by the fake Bot API exactly as before."""

from __future__ import annotations

import json

from bot.channels import callbacks
from bot.channels.telegram.transport import _buttons, keyboard

SECRET = b"k" * 32
ROWS = [
    [{"label": 'Ottimo "davvero" \\ 😀', "value": "score:5"}, {"label": "x" * 80, "value": "score:1"}],
    [{"label": "Salta", "value": "skip"}],
]


def test_keyboard_json_escapes_labels_and_signs_each_chat() -> None:
    """Quotes, backslashes and emoji survive; labels stop at 64 characters; the data verifies only
    in the chat it was signed for."""
    markup = keyboard(SECRET, "42", {"rows": ROWS, "survey_id": 7})
    assert markup is not None
    rows = json.loads(markup)["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [['Ottimo "davvero" \\ 😀', "x" * 64], ["Salta"]]
    data = [b["callback_data"] for row in rows for b in row]
    presses = [callbacks.verify(SECRET, "42", d) for d in data]
    assert presses == [
        callbacks.Press(7, "score:5"),
        callbacks.Press(7, "score:1"),
        callbacks.Press(7, "skip"),
    ]
    assert all(callbacks.verify(SECRET, "43", d) is None for d in data)


def test_keyboard_template_is_built_once_for_every_customer() -> None:
    """The same question to two chats reuses the template; only the signatures differ."""
    _buttons.cache_clear()
    first = json.loads(keyboard(SECRET, "42", {"rows": ROWS, "survey_id": 7}) or "")
    second = json.loads(keyboard(SECRET, "43", {"rows": ROWS, "survey_id": 7}) or "")
    assert (_buttons.cache_info().misses, _buttons.cache_info().hits) == (1, 1)
    texts = [[b["text"] for b in row] for row in first["inline_keyboard"]]
    assert texts == [[b["text"] for b in row] for row in second["inline_keyboard"]]
    assert first != second


def test_no_rows_no_keyboard() -> None:
    """A message without choices is sent without reply_markup."""
    assert keyboard(SECRET, "42", {"text": "Grazie!"}) is None
    assert keyboard(SECRET, "42", {"rows": []}) is None
