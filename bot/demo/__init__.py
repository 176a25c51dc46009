"""``cxbot demo``: simulated customers through the whole journey on an embedded SQLite."""
