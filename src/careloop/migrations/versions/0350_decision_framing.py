"""framing: the framing a decision chose, and which message a framed message frames (issue 25)"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0350"
down_revision = "0310"


def upgrade() -> None:
    ddl.add_columns("personalize_decisions", sa.Column("framing", sa.String(16), nullable=True))
    ddl.add_columns(
        "content_messages",
        sa.Column("framing_of", sa.String(100), nullable=True),
        sa.Column("framing", sa.String(16), nullable=True),
    )


def downgrade() -> None:
    ddl.drop_columns("content_messages", "framing", "framing_of")
    ddl.drop_columns("personalize_decisions", "framing")
