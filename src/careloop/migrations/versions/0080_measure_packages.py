"""measure packages: published Measure, Library (ELM) and ValueSet expansions"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import JSON, utc

revision = "0080"
down_revision = "0070"


def upgrade() -> None:
    op.create_table(
        "measure_packages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("cms_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("measure", JSON, nullable=False),
        sa.Column("libraries", JSON, nullable=False),
        sa.Column("valuesets", JSON, nullable=False),
        sa.Column("loaded_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_packages")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_measure_packages_name_version")),
    )
    op.create_index(op.f("ix_measure_packages_cms_id"), "measure_packages", ["cms_id"])
    op.create_table(
        "measure_libraries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("elm", JSON, nullable=False),
        sa.Column("cql", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_libraries")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_measure_libraries_name_version")),
    )
    op.create_table(
        "measure_valuesets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("codes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_valuesets")),
        sa.UniqueConstraint("key", name=op.f("uq_measure_valuesets_key")),
    )


def downgrade() -> None:
    op.drop_table("measure_valuesets")
    op.drop_table("measure_libraries")
    op.drop_index(op.f("ix_measure_packages_cms_id"), table_name="measure_packages")
    op.drop_table("measure_packages")
