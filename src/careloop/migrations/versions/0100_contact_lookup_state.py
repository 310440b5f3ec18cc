"""contact look-up state: which key and scheme the look-up digests were built with"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0100"
down_revision = "0090"


def upgrade() -> None:
    ddl.create_table(
        "contact_lookup_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        *ddl.columns("fingerprint str64, entries int, indexed_at utc"),
    )


def downgrade() -> None:
    ddl.drop_tables("contact_lookup_state")
