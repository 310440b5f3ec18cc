"""devices: the registry of devices allowed to post readings, one patient each"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl
from careloop.migrations.columns import utc

revision = "0170"
down_revision = "0130"


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("patient_ref", sa.String(64), nullable=False),
        ddl.patient_column(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", utc(), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
    )
    ddl.create_indexes("devices", ddl.index("patient_id"))


def downgrade() -> None:
    ddl.drop_tables("devices")
