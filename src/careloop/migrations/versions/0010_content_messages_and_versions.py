"""content: messages and versioned, approved variants"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl

revision = "0010"
down_revision = "0003"


def upgrade() -> None:
    ddl.create_table(
        "content_messages",
        *ddl.columns(
            "name str100, title str300, sensitivity str16, fields json, grade_rule str16",
            "updated_at utc",
        ),
        sa.CheckConstraint(
            "sensitivity IN ('general', 'clinical')",
            name=op.f("ck_content_messages_sensitivity"),
        ),
        key=("name",),
    )
    ddl.create_table(
        "content_versions",
        ddl.surrogate_id(),
        *ddl.columns(
            "message str100, language str35, reading_level str16, tone str16, channel str16",
            "version int, content_hash str64, parts json, state str16, source str16, note text?",
            "created_by str128, created_at utc, approved_by str128?, approved_at utc?",
            "retired_by str128?, retired_at utc?, retired_reason str300?",
        ),
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
