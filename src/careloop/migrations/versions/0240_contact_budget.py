"""contact budget: when each outbox message went out as a contact, and a per-patient lock

Revision ID: 0240
Revises: 0230
Create Date: 2026-12-05 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careloop.models.types

revision: str = "0240"
down_revision: str | None = "0230"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> careloop.models.types.UTCDateTime:
    return careloop.models.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outreach_outbox") as batch:
        batch.add_column(sa.Column("contact_at", _utc(), nullable=True))
        batch.create_index("ix_outreach_outbox_contact", ["patient_id", "contact_at"])
    op.create_table(
        "outreach_contact_budget",
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("checked_at", _utc(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("outreach_contact_budget")
    with op.batch_alter_table("outreach_outbox") as batch:
        batch.drop_index("ix_outreach_outbox_contact")
        batch.drop_column("contact_at")
