"""worklist items without a patient: a text from a number that matches nobody"""

import sqlalchemy as sa
from alembic import op

revision = "0090"
down_revision = "0080"


def upgrade() -> None:
    with op.batch_alter_table("worklist_items") as batch:
        batch.alter_column("patient_id", existing_type=sa.String(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM worklist_items WHERE patient_id IS NULL")
    with op.batch_alter_table("worklist_items") as batch:
        batch.alter_column("patient_id", existing_type=sa.String(), nullable=False)
