"""phone line types: cached answers of the line-type look-up (Twilio Lookup v2)

Revision ID: 0310
Revises: 0300
Create Date: 2026-12-05 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careloop.models.types

revision: str = "0310"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_line_types",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("line_type", sa.String(length=32), nullable=True),
        sa.Column("checked_at", careloop.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_phone_line_types")),
    )


def downgrade() -> None:
    op.drop_table("phone_line_types")
