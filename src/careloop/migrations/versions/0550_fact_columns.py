"""resource_facts: typed columns of what measures read (codes as pairs, status, timing, value)

Revision ID: 0550
Revises: 0540
Create Date: 2026-12-06 11:10:00

The nightly run decoded every fact's JSON to build each patient's code index (issue 18).
These columns carry what measures read of most facts: the pairs at the type's primary code
path, status, effective/period start and end, a quantity's value and unit, and the pairs of
``category`` (an Encounter's ``class``). Downgrade drops them.

Nullable columns without a default: added instantly on PostgreSQL (11+) and SQLite, whatever
the table's size. Existing rows are not filled in here: a backfill inside this transaction
did not finish in 25 minutes on 5 million facts (docs/benchmarks.md). Revision 0560 marks
the rows whose columns are computed (``columns_version``) and ``records.fact_backfill``
fills the rest in committed slices, in the background; readers take a row's columns only
once they are computed. (A database that ran this revision's earlier form, which backfilled,
keeps its values; the background backfill writes them again, equal.)
"""

from collections.abc import Sequence

from careloop.migrations import ddl

revision: str = "0550"
down_revision: str | None = "0540"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "code_pairs text?, status str64?, start_at utc?, end_at utc?, value_num float?, "
    "value_unit str64?, category_pairs text?"
)


def upgrade() -> None:
    ddl.add_columns("resource_facts", *ddl.columns(COLUMNS))


def downgrade() -> None:
    ddl.drop_columns("resource_facts", *(column.name for column in ddl.columns(COLUMNS)))
