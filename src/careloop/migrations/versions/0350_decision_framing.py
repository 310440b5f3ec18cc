"""framing: the framing a decision chose, and which message a framed message frames (issue 25)"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0350"
down_revision = "0310"


def upgrade() -> None:
    ddl.add_columns("personalize_decisions", sa.Column("framing", sa.String(16), nullable=True))
    ddl.add_columns(
        "content_messages",
        *ddl.columns("framing_of str100?, framing str16?"),
    )


def downgrade() -> None:
    ddl.drop_columns("content_messages", "framing", "framing_of")
    ddl.drop_columns("personalize_decisions", "framing")
