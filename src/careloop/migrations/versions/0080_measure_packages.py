"""measure packages: published Measure, Library (ELM) and ValueSet expansions"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import JSON, utc

revision = "0080"
down_revision = "0070"


def upgrade() -> None:
    ddl.create_table(
        "measure_packages",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("cms_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("measure", JSON, nullable=False),
        sa.Column("libraries", JSON, nullable=False),
        sa.Column("valuesets", JSON, nullable=False),
        sa.Column("loaded_at", utc(), nullable=False),
        unique=(ddl.index("name", "version"),),
        indexes=(ddl.index("cms_id"),),
    )
    ddl.create_table(
        "measure_libraries",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("elm", JSON, nullable=False),
        sa.Column("cql", sa.Text(), nullable=True),
        unique=(ddl.index("name", "version"),),
    )
    ddl.create_table(
        "measure_valuesets",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("codes", JSON, nullable=False),
        unique=("key",),
    )


def downgrade() -> None:
    ddl.drop_tables("measure_valuesets", "measure_libraries", "measure_packages")
