"""plan adjustments: who proposed them

Revision ID: 0690
Revises: 0670
Create Date: 2026-12-07 21:30:00

A nurse may now propose a plan change and a clinician approves it, never their own: the row
keeps who proposed it (a staff actor, or the rule's system actor), so the approval can refuse
the proposer and the console can show both names. Rows proposed before keep NULL (a rule's).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from careloop.migrations.ddl import add_columns, drop_columns

revision: str = "0690"
down_revision: str | None = "0670"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_columns("plan_adjustments", sa.Column("proposed_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    drop_columns("plan_adjustments", "proposed_by")
