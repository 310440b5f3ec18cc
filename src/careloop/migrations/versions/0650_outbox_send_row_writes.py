"""outbox send row writes: no index entries for unsent provider ids

Revision ID: 0650
Revises: 0640
Create Date: 2026-12-07 18:00:00

``ix_outreach_outbox_provider_id`` held an entry for every version of every row, three of a
sent text's four with ``NULL`` (queued, claimed, calling). Every look-up by provider id
(receipts, replies, reconciliation: ``= :id`` or ``IN``/``= ANY``) is strict, so PostgreSQL
proves it implies ``provider_id IS NOT NULL`` even in a prepared statement's generic plan,
and the index keeps only rows with an id. SQLite gets the same partial index.

Not kept from the first version: ``outreach_attempts`` fillfactor 30 made every attempt
update HOT but the table 1.65x larger for good (review), with no throughput measured.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0650"
down_revision: str | None = "0640"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_outreach_outbox_provider_id", table_name="outreach_outbox")
    where = sa.text("provider_id IS NOT NULL")
    op.create_index(
        "ix_outreach_outbox_provider_id",
        "outreach_outbox",
        ["provider_id"],
        postgresql_where=where,
        sqlite_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_outreach_outbox_provider_id", table_name="outreach_outbox")
    op.create_index("ix_outreach_outbox_provider_id", "outreach_outbox", ["provider_id"])
