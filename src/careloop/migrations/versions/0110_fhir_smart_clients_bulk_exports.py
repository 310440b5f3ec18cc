"""fhir: SMART backend clients and their assertions, Bulk Data export jobs and files"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import JSON, utc

revision = "0110"
down_revision = "0100"


def upgrade() -> None:
    ddl.create_table(
        "smart_clients",
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("jwks", JSON, nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        key=("client_id",),
        refs=(ddl.Ref("user_id", "users.id"),),
        indexes=(ddl.index("user_id"),),
    )
    ddl.create_table(
        "smart_assertions",
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        key=("client_id", "jti"),
        indexes=(ddl.index("expires_at"),),
    )
    ddl.create_table(
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
    )
    ddl.create_table(
        "bulk_export_files",
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        key=("export_id", "seq"),
        refs=(ddl.Ref("export_id", "bulk_exports.id"),),
    )


def downgrade() -> None:
    ddl.drop_tables("bulk_export_files", "bulk_exports", "smart_assertions", "smart_clients")
