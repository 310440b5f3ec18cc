"""outreach_inbound.caregiver_id: a caregiver's portal message is the caregiver's

Revision ID: 0710
Revises: 0690
Create Date: 2026-12-08 00:40:00

A caregiver acting as proxy in the portal wrote a message and it was stored as the patient's
(the staff read "Patient replied"). The RelatedPerson who wrote it is now kept (NULL: the
patient, or a caregiver known only by the copy the reply answers).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0710"
down_revision: str | None = "0690"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outreach_inbound", sa.Column("caregiver_id", sa.String(length=128), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("outreach_inbound", "caregiver_id")
