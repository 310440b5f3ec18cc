"""phone line types: cached answers of the line-type look-up (Twilio Lookup v2)"""

from careloop.migrations import ddl

revision = "0310"
down_revision = "0300"


def upgrade() -> None:
    ddl.create_table(
        "phone_line_types",
        *ddl.columns("digest str64, line_type str32?, checked_at utc"),
        key=("digest",),
    )


def downgrade() -> None:
    ddl.drop_tables("phone_line_types")
