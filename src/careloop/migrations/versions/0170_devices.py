"""devices: the registry of devices allowed to post readings, one patient each"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl

revision = "0170"
down_revision = "0130"


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("patient_ref", sa.String(64), nullable=False),
        ddl.patient_column(),
        *ddl.columns(
            "status str16, registered_at utc, registered_by str128, revoked_at utc?",
            "revoked_by str128?",
        ),
    )
    ddl.create_indexes("devices", ddl.index("patient_id"))


def downgrade() -> None:
    ddl.drop_tables("devices")
