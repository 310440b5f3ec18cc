"""contact budget: when each outbox message went out as a contact, and a per-patient lock"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import utc

revision = "0240"
down_revision = "0230"


def upgrade() -> None:
    with op.batch_alter_table("outreach_outbox") as batch:
        batch.add_column(sa.Column("contact_at", utc(), nullable=True))
        batch.create_index("ix_outreach_outbox_contact", ["patient_id", "contact_at"])
    op.create_table(
        "outreach_contact_budget",
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("checked_at", utc(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("outreach_contact_budget")
    with op.batch_alter_table("outreach_outbox") as batch:
        batch.drop_index("ix_outreach_outbox_contact")
        batch.drop_column("contact_at")
