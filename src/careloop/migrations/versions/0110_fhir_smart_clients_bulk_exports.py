"""fhir: SMART backend clients and their assertions, Bulk Data export jobs and files"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import JSON, utc

revision = "0110"
down_revision = "0100"


def upgrade() -> None:
    op.create_table(
        "smart_clients",
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("jwks", JSON, nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_smart_clients_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_smart_clients")),
    )
    op.create_index(op.f("ix_smart_clients_user_id"), "smart_clients", ["user_id"])
    op.create_table(
        "smart_assertions",
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_smart_assertions")),
    )
    op.create_index(op.f("ix_smart_assertions_expires_at"), "smart_assertions", ["expires_at"])
    op.create_table(
        "bulk_exports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("types", JSON, nullable=False),
        sa.Column("since", utc(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transaction_time", utc(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_exports")),
    )
    op.create_table(
        "bulk_export_files",
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["bulk_exports.id"],
            name=op.f("fk_bulk_export_files_export_id_bulk_exports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("export_id", "seq", name=op.f("pk_bulk_export_files")),
    )


def downgrade() -> None:
    op.drop_table("bulk_export_files")
    op.drop_table("bulk_exports")
    op.drop_index(op.f("ix_smart_assertions_expires_at"), table_name="smart_assertions")
    op.drop_table("smart_assertions")
    op.drop_index(op.f("ix_smart_clients_user_id"), table_name="smart_clients")
    op.drop_table("smart_clients")
