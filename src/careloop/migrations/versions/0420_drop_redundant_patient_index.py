"""fhir_resources: drop the single-column patient index

Revision ID: 0420
Revises: 0410
Create Date: 2026-12-05 15:40:00

``ix_fhir_resources_patient_type`` (patient_id, resource_type) serves every look-up by
patient (its leading column), including the cascade from ``patients``; the single-column
index only cost a second index insertion per imported resource (issue 18 item 5).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0420"
down_revision: str | None = "0410"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fhir_resources") as batch_op:
        batch_op.drop_index("ix_fhir_resources_patient_id")


def downgrade() -> None:
    with op.batch_alter_table("fhir_resources") as batch_op:
        batch_op.create_index("ix_fhir_resources_patient_id", ["patient_id"], unique=False)
