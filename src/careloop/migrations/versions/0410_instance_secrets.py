"""instance secrets: the signing key kept with the database when none is configured

Without ``security.secret_key`` each process used to sign links with its own random key, so
a link sent by ``careloop demo`` or a worker failed under ``careloop serve``. The row itself
is written by the first process that needs it (``runtime.kept_signing_key``), never by a
deployment that configures its own key.
"""

from careloop.migrations import ddl

revision = "0410"
down_revision = "0400"


def upgrade() -> None:
    ddl.create_table(
        "instance_secrets",
        *ddl.columns("name str32, secret str64, created_at utc"),
        key=("name",),
    )


def downgrade() -> None:
    ddl.drop_tables("instance_secrets")
