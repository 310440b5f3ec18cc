"""worklist items without a patient: a text from a number that matches nobody

Revision ID: 0090
Revises: 0080
Create Date: 2026-12-05 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0090"
down_revision: str | None = "0080"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("worklist_items") as batch:
        batch.alter_column("patient_id", existing_type=sa.String(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM worklist_items WHERE patient_id IS NULL")
    with op.batch_alter_table("worklist_items") as batch:
        batch.alter_column("patient_id", existing_type=sa.String(), nullable=False)
