"""The fake Bot API enforcing Telegram's limits on every call that counts, not only on sends.

tests/fakes/bot_api.py limits the sending methods (30/s per bot, 1/s per chat, 20/min per
group). Telegram also answers 429 to a bot that edits or answers callback queries too fast, so
here those count too, as cxbot's limiter counts them (bot/delivery/limited_calls.py): an edit counts for
the bot (in a group also for the chat and its minute), a callback answer for the bot, a forum
topic call for the bot and the group.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from tests.fakes.bot_api import SEND_METHODS, ApiError, FakeBotAPI

_EDITS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption", "editMessageMedia"})
_ANSWERS = frozenset({"answerCallbackQuery"})
_TOPICS = frozenset({"createForumTopic", "editForumTopic", "closeForumTopic", "reopenForumTopic"})


class LimitsEverywhere(FakeBotAPI):
    """``FakeBotAPI(enforce_limits=True)`` whose limits also cover edits, answers and topics."""

    def __init__(self, **options: Any) -> None:
        super().__init__(enforce_limits=True, **options)
        #: 429s answered to calls that are not sends (the base class counts them all in stats).
        self.rejected_other = 0

    async def _dispatch(self, method: str, params: dict[str, Any], token: str) -> Any:
        if method in SEND_METHODS or not (method in _EDITS or method in _ANSWERS or method in _TOPICS):
            return await super()._dispatch(method, params, token)
        with self._lock:
            chat_id = params.get("chat_id")
            in_group = chat_id is not None and self._is_group(chat_id)
            counted = chat_id if in_group or method in _TOPICS else None
            try:
                if counted is None:
                    self._check_bot_rate()
                else:
                    self._check_limits(counted)
            except ApiError:
                self.rejected_other += 1
                raise
            result = await super()._dispatch(method, params, token)  # no await inside for these
            now = time.monotonic()
            self._global_window.append(now)
            if counted is not None:
                self._chat_windows.setdefault(counted, deque()).append(now)
            return result

    def _check_bot_rate(self) -> None:
        limits = self._limits
        if limits is None or limits.global_per_s is None:
            return
        now = time.monotonic()
        window = self._global_window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limits.global_per_s:
            retry_after = max(1, int(window[-limits.global_per_s] + 1.0 - now + 0.999))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
