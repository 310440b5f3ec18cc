"""content: messages and versioned, approved variants"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl
from careloop.migrations.columns import JSON, utc

revision = "0010"
down_revision = "0003"


def upgrade() -> None:
    ddl.create_table(
        "content_messages",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("sensitivity", sa.String(length=16), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("grade_rule", sa.String(length=16), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.CheckConstraint(
            "sensitivity IN ('general', 'clinical')",
            name=op.f("ck_content_messages_sensitivity"),
        ),
        key=("name",),
    )
    ddl.create_table(
        "content_versions",
        ddl.surrogate_id(),
        sa.Column("message", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("reading_level", sa.String(length=16), nullable=False),
        sa.Column("tone", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("parts", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", utc(), nullable=True),
        sa.Column("retired_by", sa.String(length=128), nullable=True),
        sa.Column("retired_at", utc(), nullable=True),
        sa.Column("retired_reason", sa.String(length=300), nullable=True),
        sa.CheckConstraint(
            "state IN ('draft', 'approved', 'retired')", name=op.f("ck_content_versions_state")
        ),
        refs=(ddl.Ref("message", "content_messages.name", ondelete="RESTRICT"),),
        unique=(
            ddl.index(
                *("message", "language", "reading_level", "tone", "channel", "version"),
                name="uq_content_versions_variant_version",
            ),
        ),
        indexes=(
            ddl.index("content_hash"),
            ddl.index(
                *("message", "language", "state"), name="ix_content_versions_message_language_state"
            ),
            ddl.index(
                *("message", "language", "reading_level", "tone", "channel"),
                name="uq_content_versions_one_approved",
                unique=True,
                where="state = 'approved'",
            ),
        ),
    )


def downgrade() -> None:
    ddl.drop_tables("content_versions", "content_messages")
