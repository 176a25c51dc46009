"""The one retry policy (bot.infra.retry): exponential backoff, jitter, a cap, a last attempt."""

from __future__ import annotations

from random import Random

import pytest

from bot.infra.retry import INBOUND, MESSAGING, RASA, SERVICES, RetryPolicy


@pytest.mark.parametrize("attempts", range(1, 9))
def test_each_wait_is_the_exponential_step_plus_at_most_its_jitter(attempts: int) -> None:
    """After attempt n the wait lies in [base·2ⁿ⁻¹, base·2ⁿ⁻¹·(1 + jitter)], and really spreads."""
    policy = RetryPolicy(base=2.0, cap=10_000.0, max_attempts=20, jitter=0.5, rng=Random(attempts))
    step = 2.0 * 2 ** (attempts - 1)
    waits = [policy.delay(attempts) for _ in range(300)]
    assert all(w is not None and step <= w <= step * 1.5 for w in waits)
    spread = max(w for w in waits if w is not None) - min(w for w in waits if w is not None)
    assert spread > step * 0.4  # messages failed together come back apart


def test_no_wait_is_longer_than_the_cap() -> None:
    """However many attempts, the wait never exceeds the cap (jitter included)."""
    policy = RetryPolicy(base=1.0, cap=30.0, max_attempts=1000, jitter=0.9, rng=Random(3))
    waits = [w for w in (policy.delay(n) for n in range(1, 999)) if w is not None]
    assert len(waits) == 998 and max(waits) == 30.0
    assert waits[:4] == sorted(waits[:4]) and waits[0] < 2.0


def test_gives_up_after_the_last_attempt() -> None:
    """Attempts below max_attempts get a wait; the max_attempts-th failure gets None (dead letter)."""
    policy = RetryPolicy(base=1.0, cap=60.0, max_attempts=4, rng=Random(0))
    assert [policy.delay(n) is not None for n in range(1, 7)] == [True, True, True, False, False, False]


def test_a_seeded_random_makes_the_jitter_reproducible() -> None:
    """Two policies with the same seed wait exactly the same; another seed waits differently."""
    waits = [RetryPolicy(rng=Random(seed)).delay(3) for seed in (11, 11, 12)]
    assert waits[0] == waits[1] != waits[2]


def test_without_jitter_the_waits_double() -> None:
    """jitter=0: 1, 2, 4, 8 seconds, then the cap."""
    policy = RetryPolicy(base=1.0, cap=10.0, max_attempts=9, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_the_named_policies() -> None:
    """Chats retry fast and often; Rasa from 5 s; other people's services from a minute, for hours."""
    assert (MESSAGING.base, MESSAGING.cap, MESSAGING.max_attempts) == (1.0, 300.0, 12)
    assert (RASA.base, RASA.cap, RASA.max_attempts) == (5.0, 600.0, 8)
    assert (SERVICES.base, SERVICES.cap, SERVICES.max_attempts) == (60.0, 3600.0, 8)


def test_wait_falls_back_to_the_cap_once_attempts_are_used_up() -> None:
    """``wait`` (for what never gives up) is the cap where ``delay`` would say give up."""
    policy = RetryPolicy(base=1.0, cap=9.0, max_attempts=2, jitter=0.0)
    assert (policy.delay(2), policy.wait(2), policy.wait(1)) == (None, 9.0, 1.0)


def test_stored_updates_get_five_attempts_from_five_seconds() -> None:
    """A failing stored update is tried again after 5 s, then longer, and given up after the fifth."""
    assert (INBOUND.base, INBOUND.cap, INBOUND.max_attempts) == (5.0, 300.0, 5)
    assert INBOUND.delay(4) is not None and INBOUND.delay(5) is None
