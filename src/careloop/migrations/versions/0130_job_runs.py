"""periodic jobs: one lease and last-run row per job"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl
from careloop.migrations.columns import utc

revision = "0130"
down_revision = "0120"


def _when(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, utc(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=64), nullable=False),
        _when("next_run_at", nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        _when("lease_until"),
        _when("last_started_at"),
        _when("last_finished_at"),
        *ddl.columns(
            "last_status str16?, last_error str200?, last_owner str128?, runs int, failures int",
            "consecutive_failures int",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
