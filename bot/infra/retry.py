"""One backoff rule for everything that tries again: outbox messages, stored updates, supervised
tasks, the Telegram channel's start-up.

Exponential with jitter and a cap, so parts that failed together do not all come back together
and a long outage is not hammered; an optional attempt limit (a message becomes a dead letter,
a supervised task or the start-up never gives up: the service must come back by itself).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again after a failure, and when to give up.

    After failed attempt ``n`` the wait is ``base · 2ⁿ⁻¹`` seconds plus a random share of up to
    ``jitter`` of that, at most ``cap``; after ``max_attempts`` attempts it gives up (``None``:
    never). A flood-control wait is not an attempt. ``rng`` is injectable: a seeded one makes
    the jitter reproducible.
    """

    base: float = 1.0
    cap: float = 300.0
    max_attempts: int | None = 12
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempts: int) -> float | None:
        """Return the seconds to wait after failed attempt number ``attempts`` (from 1), or None
        when the attempts are used up."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return None
        exponential = self.base * 2.0 ** min(max(0, attempts - 1), 64)
        return min(self.cap, exponential * (1.0 + self.jitter * self.rng.random()))

    def wait(self, attempts: int) -> float:
        """Return the wait after failed attempt ``attempts`` for what never gives up (the cap
        once a limited policy's attempts are used up)."""
        delay = self.delay(attempts)
        return self.cap if delay is None else delay


#: Chats (Telegram customers and agents, python-telegram-bot): 1 s doubling to 5 min, 12 attempts.
MESSAGING = RetryPolicy()
#: Rasa's trigger_intent: 5 s doubling to 10 min, 8 attempts.
RASA = RetryPolicy(base=5.0, cap=600.0, max_attempts=8)
#: Other people's services (helpdesk webhook, e-mail, Chatwoot): outages last longer, 1 min
#: doubling to an hour, 8 attempts (about four hours).
SERVICES = RetryPolicy(base=60.0, cap=3600.0, max_attempts=8)
#: A stored update that failed to process (a bug or a database refusal): 5 s doubling, 5 attempts,
#: then it is marked done with the error (counted, logged; the next updates are not held up).
INBOUND = RetryPolicy(base=5.0, cap=300.0, max_attempts=5)
#: A crashed long-running task, or a channel that cannot start: 1 s doubling to a minute, for ever.
RESTART = RetryPolicy(base=1.0, cap=60.0, max_attempts=None)
