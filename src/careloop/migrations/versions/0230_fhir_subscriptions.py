"""fhir: topic-based Subscriptions, what each has notified, the notifications to deliver;
Bulk Data exports written by the worker (their patients, role and finish time)
"""

import sqlalchemy as sa

from careloop.migrations.columns import JSON, utc
from careloop.migrations.ddl import (
    Ref,
    add_columns,
    create_table,
    drop_columns,
    drop_tables,
    index,
    surrogate_id,
)

revision = "0230"
down_revision = "0210"


def upgrade() -> None:
    add_columns(
        "bulk_exports",
        sa.Column("patients", JSON, nullable=True),
        sa.Column("requested_role", sa.String(length=32), nullable=True),
        sa.Column("finished_at", utc(), nullable=True),
    )
    create_table(
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
        indexes=(index("status"),),
    )
    create_table(
        "fhir_subscription_seen",
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("focus", sa.String(length=200), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        key=("subscription_id", "focus"),
        refs=(Ref("subscription_id", "fhir_subscriptions.id"),),
    )
    create_table(
        "fhir_notifications",
        surrogate_id(sa.Integer()),
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
        refs=(Ref("subscription_id", "fhir_subscriptions.id"),),
        indexes=(
            index("subscription_id"),
            index("status", "next_attempt_at", name="ix_fhir_notifications_due"),
        ),
    )


def downgrade() -> None:
    drop_tables("fhir_notifications", "fhir_subscription_seen", "fhir_subscriptions")
    drop_columns("bulk_exports", "finished_at", "requested_role", "patients")
