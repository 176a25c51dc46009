"""Benchmark: Telegram's limits kept by 1 and 2 worker processes sharing one outbound budget.

    .venv/bin/python bench/dispatch.py [--surveys 300] [--tappers 150] [--full] [--skip-before]

Against one fake Bot API enforcing Telegram's limits on every call that counts (30/s per bot,
1/s per chat, 20/min per group; sends, and here edits and callback answers too: see
bench/_fake_limits.py; 429 with retry_after beyond), each run starts worker processes
(bench/_dispatch_worker.py: the timers, the real Telegram channel's processor and sender, one
of them polling) on one database holding ``--surveys`` due surveys, then:

* dispatch: the workers send every question (fed before they start). Printed: the achieved
  send rate ÷ the 30/s cap (first send to last), 429s, questions lost, questions sent twice.
* interactive: ``--tappers`` customers tap an answer button at once; each tap is a callback
  answer, an edit of the question and the next question. Printed: 429s (goal 0), taps answered,
  questions edited, seconds until all was done.
* the workers' CPU (go to stop) per Bot API call made: what each send costs cxbot, which the
  rate at the cap hides (less noisy than wall time on a loaded machine).

Runs, in one invocation so the figures sit side by side:

1. anchor: 1 worker, SQLite, the per-process limiter (``CXBOT_OUTBOUND_BUDGET=memory``);
2. 1 worker, PostgreSQL, the shared budget (``database``);
3. 2 workers, PostgreSQL, the shared budget;
4. (unless ``--skip-before``) 2 workers, PostgreSQL, each with its per-process limiter: what
   the shared budget replaces.

Goals: 1 worker ≥ 0.95 of the cap and 0 × 429; 2 workers ≥ 0.9 combined and 0 × 429; the
interactive load 0 × 429. Wall-clock figures on a loaded machine vary: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import START, TOKEN, backends, database_url, seed_surveys
from _fake_limits import LimitsEverywhere

CAP = 30
FIRST_CHAT = 800_000
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Variant:
    label: str
    backend: str
    workers: int
    budget: str


def _prepare(url: str, chats: list[int]) -> None:
    """Migrate the database, ingest one delivery per chat and feed the due CSAT questions.

    The questions wait in the outbox when the workers start: this bench measures sending (the
    feeding rate is bench/inbound.py's business, and on a loaded PostgreSQL it would be the
    bottleneck instead of Telegram's cap).
    """
    from bot.engine.wiring import build_app
    from bot.infra.settings import Settings

    app = build_app(Settings(database_url=url, telegram_token=TOKEN), clock=lambda: START)
    seed_surveys(app.service, chats, START, mark_sent=False)
    app.db.dispose()


def _pending(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT count(*) FROM outbox WHERE status = 'pending'")).scalar_one()
            )
    finally:
        engine.dispose()


def _keyboard_press(call: Any) -> tuple[int, int, str] | None:
    """Return (chat, message_id, callback data of a top score) of a question sent with buttons."""
    markup = call.params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    if not markup or not call.ok:
        return None
    buttons = [b for row in markup.get("inline_keyboard", []) for b in row if b.get("callback_data")]
    if not buttons:
        return None
    return int(call.params["chat_id"]), int(call.result["message_id"]), str(buttons[-1]["callback_data"])


def _wait(condition: Any, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def run(variant: Variant, n: int, tappers: int) -> dict[str, Any]:
    """Run one variant; return its figures."""
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    with database_url(variant.backend) as url, tempfile.TemporaryDirectory() as tmp:
        _prepare(url, chats)
        go, stop = Path(tmp) / "go", Path(tmp) / "stop"
        with LimitsEverywhere(require_token=TOKEN) as api:
            env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
            workers = [
                subprocess.Popen(
                    [
                        sys.executable,
                        str(HERE / "_dispatch_worker.py"),
                        url,
                        api.url,
                        "--budget",
                        variant.budget,
                        "--go",
                        str(go),
                        "--stop",
                        str(stop),
                        *(["--poll"] if index == 0 else []),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                for index in range(variant.workers)
            ]
            try:
                for worker in workers:
                    assert worker.stdout is not None
                    if worker.stdout.readline().strip() != "ready":
                        raise RuntimeError("a worker did not start")
                go.touch()
                started = time.monotonic()
                _wait(lambda: api.stats.sent >= n and _pending(url) == 0, started + n / CAP * 4 + 60)
                dispatched = time.monotonic()
                with api._lock:
                    sends = list(api.stats.send_log)
                    rejected_dispatch = api.stats.rejected_429
                    questions = [c for c in api.calls if c.method == "sendMessage"]
                presses = [press for press in map(_keyboard_press, questions) if press]
                per_chat = Counter(chat for _, chat in sends)
                figures: dict[str, Any] = {
                    "sent": len(sends),
                    "rate": (len(sends) - 1) / (sends[-1][0] - sends[0][0]) if len(sends) > 1 else 0.0,
                    "busiest_1s": api.stats.max_in_window(1.0),
                    "rejected": rejected_dispatch,
                    "lost": sum(1 for chat in chats if per_chat[chat] == 0),
                    "duplicated": sum(count - 1 for count in per_chat.values() if count > 1),
                    "dispatch_s": dispatched - started,
                }
                # Interactive: the first ``tappers`` chats tap a button on their question at once.
                seen: set[int] = set()
                taps: list[tuple[int, int, str]] = []
                for chat, message_id, data in presses:
                    if chat not in seen and len(taps) < tappers:
                        seen.add(chat)
                        taps.append((chat, message_id, data))
                calls_before = len(api.calls)
                tapped = time.monotonic()
                for chat, message_id, data in taps:
                    api.push_callback(chat, message_id, data, language_code="en")

                seen_calls = calls_before
                answered = edited = 0

                def done() -> bool:
                    nonlocal seen_calls, answered, edited
                    with api._lock:  # held briefly: the fake checks its limits under this lock
                        recent = api.calls[seen_calls:]
                    seen_calls += len(recent)
                    answered += sum(1 for c in recent if c.method == "answerCallbackQuery" and c.ok)
                    edited += sum(1 for c in recent if c.method.startswith("editMessage") and c.ok)
                    return answered >= len(taps) and edited >= len(taps) and _pending(url) == 0

                _wait(done, tapped + 120)
                with api._lock:
                    recent = api.calls[calls_before:]
                figures.update(
                    taps=len(taps),
                    answered=sum(1 for c in recent if c.method == "answerCallbackQuery" and c.ok),
                    edited=sum(1 for c in recent if c.method.startswith("editMessage") and c.ok),
                    interactive_rejected=sum(1 for c in recent if c.status == 429),
                    interactive_s=time.monotonic() - tapped,
                )
                with api._lock:
                    figures["calls"] = sum(1 for c in api.calls if c.ok and c.method != "getUpdates")
            finally:
                stop.touch()
                outputs = [worker.communicate(timeout=120)[0] for worker in workers]
        ends = [json.loads(out.strip().splitlines()[-1]) for out in outputs if out.strip()]
        figures["missed_slots"] = sum(end.get("missed_slots", 0) for end in ends)
        # CPU per Bot API call made (questions, callback answers, edits, next questions).
        cpu = sum(end.get("cpu_s", 0.0) for end in ends)
        figures["cpu_ms_per_call"] = 1000 * cpu / max(1, figures.get("calls", 0))
        return figures


def main() -> None:
    """Run the variants; print their figures side by side."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--surveys", type=int, default=300)
    parser.add_argument("--tappers", type=int, default=150)
    parser.add_argument("--full", action="store_true", help="3,000 surveys")
    parser.add_argument("--skip-before", action="store_true", help="no 2 workers with per-process limiters")
    args = parser.parse_args()
    n = 3000 if args.full else args.surveys
    variants = [Variant("anchor: 1 worker, SQLite, per-process limiter", "sqlite", 1, "memory")]
    if backends("postgresql"):
        variants += [
            Variant("1 worker, PostgreSQL, shared budget", "postgresql", 1, "database"),
            Variant("2 workers, PostgreSQL, shared budget", "postgresql", 2, "database"),
        ]
        if not args.skip_before:
            variants.append(Variant("2 workers, PostgreSQL, per-process limiters", "postgresql", 2, "memory"))
    print(f"surveys: {n}, tappers: {args.tappers}, cap {CAP} calls/s per bot (sends, edits, answers)")
    for variant in variants:
        r = run(variant, n, args.tappers)
        share = r["rate"] / CAP
        print(
            f"{variant.label:<48} dispatch {r['rate']:5.1f}/s = {share:.2f} of the cap, busiest second "
            f"{r['busiest_1s']}, 429s {r['rejected']}, lost {r['lost']}, duplicated {r['duplicated']} "
            f"({r['dispatch_s']:.1f} s) | interactive: 429s {r['interactive_rejected']}, answered "
            f"{r['answered']}/{r['taps']}, edited {r['edited']}/{r['taps']} ({r['interactive_s']:.1f} s)"
            f" | slots missed {r['missed_slots']} | worker CPU {r['cpu_ms_per_call']:.2f} ms per call",
            flush=True,
        )


if __name__ == "__main__":
    main()
