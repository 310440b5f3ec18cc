"""devices: the registry of devices allowed to post readings, one patient each"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import utc
from careloop.migrations.ddl import create_indexes, drop_tables, index, patient_column

revision = "0170"
down_revision = "0130"


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("patient_ref", sa.String(64), nullable=False),
        patient_column(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", utc(), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
    )
    create_indexes("devices", index("patient_id"))


def downgrade() -> None:
    drop_tables("devices")
