"""framing: the framing a decision chose, and which message a framed message frames (issue 25)"""

import sqlalchemy as sa
from alembic import op

revision = "0350"
down_revision = "0310"


def upgrade() -> None:
    with op.batch_alter_table("personalize_decisions") as batch:
        batch.add_column(sa.Column("framing", sa.String(16), nullable=True))
    with op.batch_alter_table("content_messages") as batch:
        batch.add_column(sa.Column("framing_of", sa.String(100), nullable=True))
        batch.add_column(sa.Column("framing", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("content_messages") as batch:
        batch.drop_column("framing")
        batch.drop_column("framing_of")
    with op.batch_alter_table("personalize_decisions") as batch:
        batch.drop_column("framing")
