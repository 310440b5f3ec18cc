"""console at population scale: the worklist's order as an index, enrollments by state change

Revision ID: 0500
Revises: 0480
Create Date: 2026-12-05 23:50:00

The worklist page sorts the active items by priority, severity rank, due time and id; the rank
was a ``CASE`` in the query, so no index could give the order and every view sorted every
open item (51,600 at 100,000 patients). ``severity_rank`` is now a generated column (stored on
PostgreSQL, virtual on SQLite, which cannot add a stored one) and a partial index over the
active items holds the page's order, so a page reads its 50 rows; another covers the filter
choices and counts (one ``GROUP BY``, index-only). The call queue's open
tasks get theirs by due time (32,250 at 100,000 patients), so its first pages read a few ids.

The call queue asks for the last enrollment completed on every view (whether its uplift model
must be refitted); ``(state, state_changed_at)`` answers with one index descent instead of
reading every completed enrollment (138,000 at 100,000 patients). The appointments page's
upcoming bookings and open offers come in their order from partial indexes, a page at a time.
Plan changes get an index by worklist item: every worklist page looks its cards' up.
Issue 18 item 6.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0500"
down_revision: str | None = "0480"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RANK = "CASE severity WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'routine' THEN 2 ELSE 3 END"
ACTIVE = "status IN ('open', 'acknowledged')"
OPEN_CALLS = f"rule_id LIKE 'outreach-call:%' AND {ACTIVE}"


PARTIAL = (
    ("ix_worklist_items_active_order", "worklist_items",
     ["priority", "severity_rank", "due_at", "id"], ACTIVE),
    ("ix_worklist_items_active_groups", "worklist_items",
     ["program", "team", "assignee", "severity"], ACTIVE),
    ("ix_worklist_items_open_calls", "worklist_items", ["due_at", "id"], OPEN_CALLS),
    ("ix_access_bookings_live_start", "access_bookings", ["start", "id"],
     "state IN ('held', 'booked')"),
    ("ix_access_offers_open_expiry", "access_offers", ["expires_at", "id"], "state = 'open'"),
)  # fmt: skip
"""(name, table, columns, the rows indexed) of each partial index."""


def upgrade() -> None:
    op.add_column(
        "worklist_items",
        sa.Column("severity_rank", sa.SmallInteger(), sa.Computed(RANK), nullable=True),
    )
    for name, table, columns, where in PARTIAL:
        op.create_index(
            name, table, columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where)
        )
    op.create_index(
        "ix_outreach_enrollments_state_changed",
        "outreach_enrollments",
        ["state", "state_changed_at"],
    )
    op.create_index("ix_plan_adjustments_item_id", "plan_adjustments", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_plan_adjustments_item_id", table_name="plan_adjustments")
    op.drop_index("ix_outreach_enrollments_state_changed", table_name="outreach_enrollments")
    for name, table, _, _ in reversed(PARTIAL):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("worklist_items") as batch_op:
        batch_op.drop_column("severity_rank")
