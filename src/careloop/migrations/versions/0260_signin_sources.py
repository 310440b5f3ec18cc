"""signin sources: the per-address sign-in back-off, shared by every web process"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0260"
down_revision = "0240"


def upgrade() -> None:
    ddl.create_table(
        "signin_sources",
        sa.Column("source", sa.String(64), primary_key=True),
        *ddl.columns("failures int, wait_until utc, last_failure_at utc"),
        key=(),
        indexes=(ddl.index("last_failure_at"),),
    )


def downgrade() -> None:
    ddl.drop_tables("signin_sources")
