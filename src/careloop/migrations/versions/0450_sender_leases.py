"""sender leases: a paced sender is claimed by one worker at a time

Revision ID: 0450
Revises: 0420
Create Date: 2026-12-05 14:40:00

With every worker claiming messages of every sender, all of them locked the same sender rows
to reserve send slots and queued on those locks (4 workers were slower than 2). A worker now
leases the senders it claims for (``leased_by``/``lease_until``), so workers send from
disjoint senders; the slots themselves are still reserved on the row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import utc

revision: str = "0450"
down_revision: str | None = "0420"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outreach_sender_slots") as table:
        table.add_column(sa.Column("leased_by", sa.String(length=128), nullable=True))
        table.add_column(sa.Column("lease_until", utc(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outreach_sender_slots") as table:
        table.drop_column("lease_until")
        table.drop_column("leased_by")
