"""content: messages and versioned, approved variants"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import JSON, utc

revision = "0010"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
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
        sa.PrimaryKeyConstraint("name", name=op.f("pk_content_messages")),
    )
    op.create_table(
        "content_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
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
        sa.ForeignKeyConstraint(
            ["message"],
            ["content_messages.name"],
            name=op.f("fk_content_versions_message_content_messages"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_versions")),
        sa.UniqueConstraint(
            "message",
            "language",
            "reading_level",
            "tone",
            "channel",
            "version",
            name="uq_content_versions_variant_version",
        ),
    )
    with op.batch_alter_table("content_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_content_versions_content_hash"), ["content_hash"], unique=False
        )
        batch_op.create_index(
            "ix_content_versions_message_language_state",
            ["message", "language", "state"],
            unique=False,
        )
        batch_op.create_index(
            "uq_content_versions_one_approved",
            ["message", "language", "reading_level", "tone", "channel"],
            unique=True,
            postgresql_where=sa.text("state = 'approved'"),
            sqlite_where=sa.text("state = 'approved'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("content_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_content_versions_one_approved")
        batch_op.drop_index("ix_content_versions_message_language_state")
        batch_op.drop_index(batch_op.f("ix_content_versions_content_hash"))
    op.drop_table("content_versions")
    op.drop_table("content_messages")
