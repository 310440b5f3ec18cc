"""decision framing: the framing a decision chose (programs that choose one; issue 25)"""

import sqlalchemy as sa
from alembic import op

revision = "0350"
down_revision = "0310"


def upgrade() -> None:
    with op.batch_alter_table("personalize_decisions") as batch:
        batch.add_column(sa.Column("framing", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("personalize_decisions") as batch:
        batch.drop_column("framing")
