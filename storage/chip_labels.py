"""The labels of a journey's reason chips, as they were once stored in ``responses.comment``.

Before revision 0009 a tapped reason chip wrote its label ("Corriere", "Altro") into the
response's ``comment`` as if the customer had typed it. Migration 0009 removes those lines; it
needs the labels of every chip of the journeys that may have written them: the shipped default
and the one ``CXBOT_JOURNEY`` names (when it can be read).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

from flows.errors import JourneyError
from flows.journey import Journey, load_journey


def journeys_in_use() -> list[Journey]:
    """Return the shipped default journey and, when set and readable, the configured one."""
    found = [load_journey()]
    configured = os.environ.get("CXBOT_JOURNEY")
    if configured:
        # unreadable: the default's labels are still removed (the service refuses to start anyway)
        with contextlib.suppress(JourneyError):
            found.append(load_journey(configured))
    return found


def chip_labels(journeys: Iterable[Journey]) -> dict[tuple[str, str], set[str]]:
    """Return the labels (both languages) of each (stage, reason id)."""
    labels: dict[tuple[str, str], set[str]] = {}
    for journey in journeys:
        for stage in journey.stages:
            bands = stage.reasons
            for reason in (*bands.negative, *bands.neutral, *bands.positive):
                labels.setdefault((stage.id, reason.id), set()).update({reason.label.it, reason.label.en})
    return labels


def typed_text(comment: str | None, labels: set[str]) -> str | None:
    """Return ``comment`` without its lines that are a chip label (None when nothing typed is left)."""
    if comment is None:
        return None
    kept = [line for line in comment.split("\n") if line.strip() not in labels]
    text = "\n".join(kept).strip()
    return text or None
