"""fhir: topic-based Subscriptions, what each has notified, the notifications to deliver;
Bulk Data exports written by the worker (their patients, role and finish time)
"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import JSON, utc

revision = "0230"
down_revision = "0210"


def upgrade() -> None:
    ddl.add_columns(
        "bulk_exports",
        sa.Column("patients", JSON, nullable=True),
        sa.Column("requested_role", sa.String(length=32), nullable=True),
        sa.Column("finished_at", utc(), nullable=True),
    )
    ddl.create_table(
        "fhir_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("payload", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("heartbeat_seconds", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("end", utc(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("watermark", utc(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", utc(), nullable=True),
        indexes=(ddl.index("status"),),
    )
    ddl.create_table(
        "fhir_subscription_seen",
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("focus", sa.String(length=200), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        key=("subscription_id", "focus"),
        refs=(ddl.Ref("subscription_id", "fhir_subscriptions.id"),),
    )
    ddl.create_table(
        "fhir_notifications",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("event_number", sa.Integer(), nullable=True),
        sa.Column("focus", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("next_attempt_at", utc(), nullable=False),
        sa.Column("last_attempt_at", utc(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("delivered_at", utc(), nullable=True),
        refs=(ddl.Ref("subscription_id", "fhir_subscriptions.id"),),
        indexes=(
            ddl.index("subscription_id"),
            ddl.index("status", "next_attempt_at", name="ix_fhir_notifications_due"),
        ),
    )


def downgrade() -> None:
    ddl.drop_tables("fhir_notifications", "fhir_subscription_seen", "fhir_subscriptions")
    ddl.drop_columns("bulk_exports", "finished_at", "requested_role", "patients")
