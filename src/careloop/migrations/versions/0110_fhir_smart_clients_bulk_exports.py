"""fhir: SMART backend clients and their assertions, Bulk Data export jobs and files"""

from careloop.migrations import ddl

revision = "0110"
down_revision = "0100"


def upgrade() -> None:
    ddl.create_table(
        "smart_clients",
        *ddl.columns(
            "client_id str200, name str200, jwks json, scopes json, user_id int, created_at utc",
            "revoked_at utc?",
        ),
        key=("client_id",),
        refs=(ddl.Ref("user_id", "users.id"),),
        indexes=(ddl.index("user_id"),),
    )
    ddl.create_table(
        "smart_assertions",
        *ddl.columns("client_id str200, jti str200, expires_at utc"),
        key=("client_id", "jti"),
        indexes=(ddl.index("expires_at"),),
    )
    ddl.create_table(
        "bulk_exports",
        *ddl.columns(
            "id str36, requested_by str128, request_url text, level str16, group_id str200?",
            "types json, since utc?, status str16, transaction_time utc, errors json",
        ),
    )
    ddl.create_table(
        "bulk_export_files",
        *ddl.columns("export_id str36, seq int, resource_type str64, count int, content text"),
        key=("export_id", "seq"),
        refs=(ddl.Ref("export_id", "bulk_exports.id"),),
    )


def downgrade() -> None:
    ddl.drop_tables("bulk_export_files", "bulk_exports", "smart_assertions", "smart_clients")
