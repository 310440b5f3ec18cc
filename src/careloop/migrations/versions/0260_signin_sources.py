"""signin sources: the per-address sign-in back-off, shared by every web process"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import utc

revision = "0260"
down_revision = "0240"


def upgrade() -> None:
    ddl.create_table(
        "signin_sources",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("wait_until", utc(), nullable=False),
        sa.Column("last_failure_at", utc(), nullable=False),
        key=(),
        indexes=(ddl.index("last_failure_at"),),
    )


def downgrade() -> None:
    ddl.drop_tables("signin_sources")
