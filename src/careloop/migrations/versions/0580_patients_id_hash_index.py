"""index patients by the hash of their id, so a queued slice reads only its patients

Revision ID: 0580
Revises: 0560
Create Date: 2026-12-06 17:50:00

A queued night's slice task found its patients with ``mod(abs(hashtext(id)), n) = k``: a
scan of the whole ``patients`` table per slice, so a night cost slices x patients rows
(56 ms a slice at 20,000 patients under load; at 10M patients, 5,000 slices of a 10M-row scan
each). Slices are now contiguous ranges of ``hashtext(id)`` (``compose.queue``), read through
this index. PostgreSQL only: SQLite has no queue and no ``hashtext``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0580"
down_revision: str | None = "0570"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_patients_id_hash ON patients (hashtext(id))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_patients_id_hash")
