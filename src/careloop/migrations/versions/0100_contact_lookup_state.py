"""contact look-up state: which key and scheme the look-up digests were built with"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import utc

revision = "0100"
down_revision = "0090"


def upgrade() -> None:
    ddl.create_table(
        "contact_lookup_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("indexed_at", utc(), nullable=False),
    )


def downgrade() -> None:
    ddl.drop_tables("contact_lookup_state")
