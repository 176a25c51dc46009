"""every closing question kept (closing_questions); reason chips out of responses.comment

Revision ID: 0009
Revises: 0007

- ``closing_questions``: one row per "did we solve it?" asked (each resolution of an
  escalation) with its answer, never overwritten, so a reopened case keeps its "no". Existing
  escalations get one row for their last resolution and last answer (earlier ones were lost).
- ``responses.comment`` held the label of a tapped reason chip as if it were typed text; the
  chip is already in ``responses.reason`` (its id), so the label lines are removed from
  ``comment`` (labels of the shipped journey and of ``CXBOT_JOURNEY``; storage/chip_labels.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types
from storage.chip_labels import chip_labels, journeys_in_use, typed_text

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closing_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("asked_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("asked_by", sa.String(length=128), nullable=True),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("answered_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("closing_questions") as batch_op:
        batch_op.create_index("ix_closing_questions_escalation_id", ["escalation_id"], unique=False)
        batch_op.create_index("ix_closing_questions_asked_at", ["asked_at"], unique=False)
    bind = op.get_bind()
    escalations = sa.table(
        "escalations",
        sa.column("id", sa.Integer()),
        sa.column("resolved_at", storage.types.UTCDateTime()),
        sa.column("resolved_by", sa.String()),
        sa.column("closing_answer", sa.String()),
        sa.column("closing_answered_at", storage.types.UTCDateTime()),
    )
    closing = sa.table(
        "closing_questions",
        sa.column("escalation_id", sa.Integer()),
        sa.column("asked_at", storage.types.UTCDateTime()),
        sa.column("asked_by", sa.String()),
        sa.column("answer", sa.String()),
        sa.column("answered_at", storage.types.UTCDateTime()),
    )
    e = escalations.c
    rows = bind.execute(
        sa.select(e.id, e.resolved_at, e.resolved_by, e.closing_answer, e.closing_answered_at).where(
            sa.or_(e.resolved_at.is_not(None), e.closing_answer.is_not(None))
        )
    ).all()
    backfill = []
    for ident, resolved_at, resolved_by, answer, answered_at in rows:
        # a "no" reopened the case and cleared resolved_at: the question was asked before the answer
        asked_at = resolved_at if resolved_at is not None and (answered_at is None or resolved_at <= answered_at) else answered_at
        backfill.append(
            {
                "escalation_id": ident,
                "asked_at": asked_at,
                "asked_by": resolved_by,
                "answer": answer,
                "answered_at": answered_at if answer is not None else None,
            }
        )
        if resolved_at is not None and asked_at != resolved_at:  # resolved again after that answer
            backfill.append(
                {"escalation_id": ident, "asked_at": resolved_at, "asked_by": resolved_by, "answer": None, "answered_at": None}
            )
    if backfill:
        bind.execute(closing.insert(), backfill)

    responses = sa.table(
        "responses",
        sa.column("id", sa.Integer()),
        sa.column("stage", sa.String()),
        sa.column("reason", sa.String()),
        sa.column("comment", sa.Text()),
    )
    r = responses.c
    labels = chip_labels(journeys_in_use())
    every_label = set().union(*labels.values()) if labels else set()
    with_chip = bind.execute(
        sa.select(r.id, r.stage, r.reason, r.comment).where(r.reason.is_not(None), r.comment.is_not(None))
    ).all()
    for ident, stage, reason, comment in with_chip:
        # the stage's labels of that reason; a stage since renamed: any chip label
        known = labels.get((str(stage), str(reason))) or every_label
        text = typed_text(comment, known)
        if text != comment:
            bind.execute(responses.update().where(r.id == ident).values(comment=text))


def downgrade() -> None:
    with op.batch_alter_table("closing_questions") as batch_op:
        batch_op.drop_index("ix_closing_questions_asked_at")
        batch_op.drop_index("ix_closing_questions_escalation_id")
    op.drop_table("closing_questions")
