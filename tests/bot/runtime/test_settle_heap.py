"""``settle_heap``: what `cxbot serve` does to its start-up objects before serving."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.runtime.serve import settle_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Give the test process its collector back afterwards."""
    yield
    gc.unfreeze()


def test_settle_heap_takes_start_up_objects_out_of_full_collections(unfrozen: None) -> None:
    """After settle_heap the objects alive at start-up are frozen; objects made later are still tracked."""
    assert gc.get_freeze_count() == 0
    settle_heap()
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imported modules, their classes and schemas
    later = [object() for _ in range(10)]
    assert gc.is_tracked(later)
    assert gc.get_freeze_count() == frozen
