"""fhir: topic-based Subscriptions, what each has notified, the notifications to deliver;
Bulk Data exports written by the worker (their patients, role and finish time)
"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import JSON, utc

revision = "0230"
down_revision = "0210"


def upgrade() -> None:
    with op.batch_alter_table("bulk_exports") as batch:
        batch.add_column(sa.Column("patients", JSON, nullable=True))
        batch.add_column(sa.Column("requested_role", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("finished_at", utc(), nullable=True))
    op.create_table(
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_subscriptions")),
    )
    op.create_index(op.f("ix_fhir_subscriptions_status"), "fhir_subscriptions", ["status"])
    op.create_table(
        "fhir_subscription_seen",
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("focus", sa.String(length=200), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["fhir_subscriptions.id"],
            name=op.f("fk_fhir_subscription_seen_subscription_id_fhir_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "focus", name=op.f("pk_fhir_subscription_seen")),
    )
    op.create_table(
        "fhir_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
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
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["fhir_subscriptions.id"],
            name=op.f("fk_fhir_notifications_subscription_id_fhir_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_notifications")),
    )
    op.create_index(
        op.f("ix_fhir_notifications_subscription_id"), "fhir_notifications", ["subscription_id"]
    )
    op.create_index(
        "ix_fhir_notifications_due", "fhir_notifications", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_fhir_notifications_due", table_name="fhir_notifications")
    op.drop_index(op.f("ix_fhir_notifications_subscription_id"), table_name="fhir_notifications")
    op.drop_table("fhir_notifications")
    op.drop_table("fhir_subscription_seen")
    op.drop_index(op.f("ix_fhir_subscriptions_status"), table_name="fhir_subscriptions")
    op.drop_table("fhir_subscriptions")
    with op.batch_alter_table("bulk_exports") as batch:
        batch.drop_column("finished_at")
        batch.drop_column("requested_role")
        batch.drop_column("patients")
