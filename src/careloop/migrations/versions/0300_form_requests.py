"""forms: forms sent to a patient's phone and signed there (issue 25)"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import JSON, utc

revision = "0300"
down_revision = "0290"


def upgrade() -> None:
    ddl.create_table(
        "form_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("form", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sent_at", utc(), nullable=False),
        sa.Column("sent_by", sa.String(length=128), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.Column("failed_checks", sa.Integer(), nullable=False),
        sa.Column("signed_at", utc(), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("signed_resources", JSON, nullable=True),
        refs=(ddl.PATIENT,),
        indexes=(ddl.index("patient_id", "sent_at", name="ix_form_requests_patient"),),
    )


def downgrade() -> None:
    ddl.drop_tables("form_requests")
