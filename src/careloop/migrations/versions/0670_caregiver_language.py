"""caregivers.language: a caregiver is answered in their own language

Revision ID: 0670
Revises: 0660
Create Date: 2026-12-09 21:00:00

A caregiver who wrote a red-flag symptom was answered in the patient's language. The
caregiver's preferred ``RelatedPerson.communication`` language is now kept (NULL: the record
does not say, and the patient's language, then the clinic's, is used).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0670"
down_revision: str | None = "0660"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("caregivers", sa.Column("language", sa.String(length=35), nullable=True))


def downgrade() -> None:
    op.drop_column("caregivers", "language")
