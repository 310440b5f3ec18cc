"""caregiver manages medications: a copy of dose reminders goes to them

Revision ID: 0290
Revises: 0260
Create Date: 2026-12-05 06:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0290"
down_revision: str | None = "0260"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("caregivers") as batch:
        batch.add_column(
            sa.Column(
                "manages_medications", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("caregivers") as batch:
        batch.drop_column("manages_medications")
