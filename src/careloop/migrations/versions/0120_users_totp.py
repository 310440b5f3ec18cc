"""users: optional TOTP second factor (encrypted secret, last accepted time step)"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0120"
down_revision = "0110"


def upgrade() -> None:
    ddl.add_columns(
        "users",
        sa.Column("totp_secret", sa.Text(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    ddl.drop_columns("users", "totp_last_step", "totp_secret")
