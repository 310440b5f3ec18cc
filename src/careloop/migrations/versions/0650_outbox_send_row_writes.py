"""outbox send row writes: attempts updated in place, no index entries for unsent provider ids

Revision ID: 0650
Revises: 0630
Create Date: 2026-12-07 18:00:00

A text writes its attempt row three times (``started`` at the claim, ``calling`` before the
gateway call, its result after) and its outbox row four times. The attempts' two updates
change no indexed column, yet were not HOT (heap-only: the new version on the same page, no
new index entries): the claim's inserts fill attempt pages to the brim. With fillfactor 30
the page keeps room for both later versions of each row it receives, so neither adds an
entry to the attempts' two indexes (50 left about half of them without room). The attempts
table is written, not read, in bulk; its pages take the room once and keep it.

``ix_outreach_outbox_provider_id`` held an entry for every version of every row, three of a
sent text's four with ``NULL`` (queued, claimed, calling). Every look-up by provider id
(receipts, replies, reconciliation: ``= :id`` or ``IN``/``= ANY``) is strict, so PostgreSQL
proves it implies ``provider_id IS NOT NULL`` even in a prepared statement's generic plan,
and the index keeps only rows with an id. SQLite gets the same partial index; its fillfactor
does not exist.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0650"
down_revision: str | None = "0630"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ATTEMPTS_FILLFACTOR = 30


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
    if op.get_bind().dialect.name == "postgresql":
        # New pages only: existing ones take the room as their rows are updated and pruned.
        op.execute(f"ALTER TABLE outreach_attempts SET (fillfactor = {ATTEMPTS_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outreach_attempts RESET (fillfactor)")
    op.drop_index("ix_outreach_outbox_provider_id", table_name="outreach_outbox")
    op.create_index("ix_outreach_outbox_provider_id", "outreach_outbox", ["provider_id"])
