"""users: optional TOTP second factor (encrypted secret, last accepted time step)"""

from careloop.migrations import ddl

revision = "0120"
down_revision = "0110"


def upgrade() -> None:
    ddl.add_columns(
        "users",
        *ddl.columns("totp_secret text?, totp_last_step bigint?"),
    )


def downgrade() -> None:
    ddl.drop_columns("users", "totp_last_step", "totp_secret")
