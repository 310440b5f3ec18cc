"""devices: the registry of devices allowed to post readings, one patient each"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import utc

revision = "0170"
down_revision = "0130"


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("patient_ref", sa.String(64), nullable=False),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", utc(), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_devices_patient_id", "devices", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_devices_patient_id", table_name="devices")
    op.drop_table("devices")
