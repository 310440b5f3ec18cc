"""instance secrets: the signing key kept with the database when none is configured

Revision ID: 0410
Revises: 0400
Create Date: 2026-12-05 11:45:00

Without ``security.secret_key`` each process used to sign links with its own random key, so
a link sent by ``careloop demo`` or a worker failed under ``careloop serve``. The row itself
is written by the first process that needs it (``runtime.kept_signing_key``), never by a
deployment that configures its own key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import utc

revision: str = "0410"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_secrets")),
    )


def downgrade() -> None:
    op.drop_table("instance_secrets")
