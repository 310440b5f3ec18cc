"""events: index by kind and time

Revision ID: 0460
Revises: 0450
Create Date: 2026-12-05 16:05:00

The program report aggregates one kind of event over a period (messages sent in a week,
enrollments, replies) with ``GROUP BY`` in the database; ``(kind, occurred_at)`` gives it
that slice of the log without intersecting the two single-column indexes (issue 18 item 6).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0460"
down_revision: str | None = "0450"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.create_index("ix_events_kind_occurred", ["kind", "occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_index("ix_events_kind_occurred")
