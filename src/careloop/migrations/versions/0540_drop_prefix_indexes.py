"""drop the single-column indexes that a composite index already leads with

Revision ID: 0540
Revises: 0530
Create Date: 2026-12-06 08:30:00

The nightly cycle writes ~7 event rows, ~2 decisions and ~1.5 outbox rows per patient, and
every index on those tables is written with each row. Four of them are the first column of a
composite index on the same table, which answers every query the single-column one did:
``events (kind)`` and ``(patient_id)`` (``ix_events_kind_occurred``, ``ix_events_patient_kind``),
``outreach_outbox (patient_id)`` (``ix_outreach_outbox_contact``) and
``personalize_decisions (program)`` (``ix_personalize_decisions_program_learned``). Dropping
them takes nothing from any reader and one B-tree insert per row from the writers (issue 18).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0540"
down_revision: str | None = "0530"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, index, column): each led by a composite index that stays.
DROPPED = (
    ("events", "ix_events_kind", "kind"),
    ("events", "ix_events_patient_id", "patient_id"),
    ("outreach_outbox", "ix_outreach_outbox_patient_id", "patient_id"),
    ("personalize_decisions", "ix_personalize_decisions_program", "program"),
)


def upgrade() -> None:
    for table, index, _ in DROPPED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(index)


def downgrade() -> None:
    for table, index, column in DROPPED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_index(index, [column], unique=False)
