"""phone line types: cached answers of the line-type look-up (Twilio Lookup v2)"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import utc

revision = "0310"
down_revision = "0300"


def upgrade() -> None:
    ddl.create_table(
        "phone_line_types",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("line_type", sa.String(length=32), nullable=True),
        sa.Column("checked_at", utc(), nullable=False),
        key=("digest",),
    )


def downgrade() -> None:
    ddl.drop_tables("phone_line_types")
