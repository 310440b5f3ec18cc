"""caregiver manages medications: a copy of dose reminders goes to them"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0290"
down_revision = "0260"


def upgrade() -> None:
    ddl.add_columns(
        "caregivers",
        sa.Column("manages_medications", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    ddl.drop_columns("caregivers", "manages_medications")
