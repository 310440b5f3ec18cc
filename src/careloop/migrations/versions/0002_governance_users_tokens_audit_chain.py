"""governance: users, tokens, audit chain"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    ddl.create_table(
        "audit_chain_head",
        *ddl.columns("id int, last_hash str64, count id, note text?"),
    )
    ddl.create_table(
        "audit_events",
        ddl.surrogate_id(),
        *ddl.columns(
            "occurred_at utc, actor str200, actor_role str32?, action str16, resource str200",
            "patient_id str64?, purpose str64, source str100?, outcome str16, detail json",
            "prev_hash str64, hash str64",
        ),
        unique=("hash",),
        indexes=ddl.indexed("occurred_at", "patient_id"),
    )
    ddl.create_table(
        "users",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns(
            "username str150, password_hash str255?, role str32, display_name str200?",
            "patient_id str64?, teams json, active bool, failed_logins int, locked_until utc?",
            "created_at utc",
        ),
        unique=("username",),
        indexes=(ddl.index("patient_id"),),
    )
    ddl.create_table(
        "api_tokens",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns(
            "token_hash str64, user_id int, name str100, scopes json, kind str16, created_at utc",
            "expires_at utc, revoked_at utc?, last_used_at utc?",
        ),
        refs=(ddl.Ref("user_id", "users.id"),),
        unique=("token_hash",),
        indexes=(ddl.index("user_id"),),
    )


def downgrade() -> None:
    ddl.drop_tables("api_tokens", "users", "audit_events", "audit_chain_head")
