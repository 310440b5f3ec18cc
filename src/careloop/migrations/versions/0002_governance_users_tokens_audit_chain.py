"""governance: users, tokens, audit chain"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import ID, JSON, utc

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    ddl.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("count", ID, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    ddl.create_table(
        "audit_events",
        ddl.surrogate_id(),
        sa.Column("occurred_at", utc(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource", sa.String(length=200), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        unique=("hash",),
        indexes=ddl.indexed("occurred_at", "patient_id"),
    )
    ddl.create_table(
        "users",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("teams", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", utc(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        unique=("username",),
        indexes=(ddl.index("patient_id"),),
    )
    ddl.create_table(
        "api_tokens",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.Column("last_used_at", utc(), nullable=True),
        refs=(ddl.Ref("user_id", "users.id"),),
        unique=("token_hash",),
        indexes=(ddl.index("user_id"),),
    )


def downgrade() -> None:
    ddl.drop_tables("api_tokens", "users", "audit_events", "audit_chain_head")
