"""measure packages: published Measure, Library (ELM) and ValueSet expansions

Revision ID: 0080
Revises: 0070
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import careloop.models.types

revision: str = "0080"
down_revision: str | None = "0070"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "measure_packages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("cms_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("measure", _JSON, nullable=False),
        sa.Column("libraries", _JSON, nullable=False),
        sa.Column("valuesets", _JSON, nullable=False),
        sa.Column("loaded_at", careloop.models.types.UTCDateTime(timezone=True), nullable=False),
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
        sa.Column("elm", _JSON, nullable=False),
        sa.Column("cql", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_libraries")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_measure_libraries_name_version")),
    )
    op.create_table(
        "measure_valuesets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("codes", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_valuesets")),
        sa.UniqueConstraint("key", name=op.f("uq_measure_valuesets_key")),
    )


def downgrade() -> None:
    op.drop_table("measure_valuesets")
    op.drop_table("measure_libraries")
    op.drop_index(op.f("ix_measure_packages_cms_id"), table_name="measure_packages")
    op.drop_table("measure_packages")
