"""fhir: topic-based Subscriptions, what each has notified, the notifications to deliver;
Bulk Data exports written by the worker (their patients, role and finish time)
"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0230"
down_revision = "0210"


def upgrade() -> None:
    ddl.add_columns(
        "bulk_exports",
        *ddl.columns("patients json?, requested_role str32?, finished_at utc?"),
    )
    ddl.create_table(
        "fhir_subscriptions",
        *ddl.columns(
            "id str64, kind str16, topic str200, filters json, status str16, endpoint text",
            "payload str16, secret text?, headers text, heartbeat_seconds int?, reason str200?",
            "end utc?, created_by str128, created_at utc, watermark utc, events int",
            "last_sent_at utc?",
        ),
        indexes=(ddl.index("status"),),
    )
    ddl.create_table(
        "fhir_subscription_seen",
        *ddl.columns("subscription_id str64, focus str200, version_id str64"),
        key=("subscription_id", "focus"),
        refs=(ddl.Ref("subscription_id", "fhir_subscriptions.id"),),
    )
    ddl.create_table(
        "fhir_notifications",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns(
            "subscription_id str64, kind str24, event_number int?, focus str200?, status str16",
            "attempts int, created_at utc, next_attempt_at utc, last_attempt_at utc?",
            "last_error str200?, delivered_at utc?",
        ),
        refs=(ddl.Ref("subscription_id", "fhir_subscriptions.id"),),
        indexes=(
            ddl.index("subscription_id"),
            ddl.index("status", "next_attempt_at", name="ix_fhir_notifications_due"),
        ),
    )


def downgrade() -> None:
    ddl.drop_tables("fhir_notifications", "fhir_subscription_seen", "fhir_subscriptions")
    ddl.drop_columns("bulk_exports", "finished_at", "requested_role", "patients")
