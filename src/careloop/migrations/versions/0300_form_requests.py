"""forms: forms sent to a patient's phone and signed there (issue 25)

Revision ID: 0300
Revises: 0290
Create Date: 2026-12-05 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import careloop.models.types

revision: str = "0300"
down_revision: str | None = "0290"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _utc() -> careloop.models.types.UTCDateTime:
    return careloop.models.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "form_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("form", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sent_at", _utc(), nullable=False),
        sa.Column("sent_by", sa.String(length=128), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("failed_checks", sa.Integer(), nullable=False),
        sa.Column("signed_at", _utc(), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("signed_resources", _JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_form_requests_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_requests")),
    )
    op.create_index("ix_form_requests_patient", "form_requests", ["patient_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_form_requests_patient", table_name="form_requests")
    op.drop_table("form_requests")
