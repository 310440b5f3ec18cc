"""access: slot offers, holds and bookings (one live booking per slot), rides, the waitlist"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import JSON, utc

revision = "0180"
down_revision = "0170"


def upgrade() -> None:
    op.create_table(
        "access_offers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("service", sa.String(64), nullable=True),
        sa.Column("choices", JSON, nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("booking_id", sa.String(36), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.Column("answered_at", utc(), nullable=True),
    )
    op.create_index("ix_access_offers_state", "access_offers", ["state"])
    op.create_index("ix_access_offers_patient_state", "access_offers", ["patient_id", "state"])
    op.create_table(
        "access_bookings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("slot_id", sa.String(64), nullable=False),
        sa.Column("active_slot", sa.String(64), nullable=True),
        sa.Column("offer_id", sa.String(36), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("ride", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("start", utc(), nullable=False),
        sa.Column("end", utc(), nullable=False),
        sa.Column("held_until", utc(), nullable=True),
        sa.Column("appointment_id", sa.String(64), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.UniqueConstraint("active_slot", name=op.f("uq_access_bookings_active_slot")),
    )
    op.create_index("ix_access_bookings_slot_id", "access_bookings", ["slot_id"])
    op.create_index("ix_access_bookings_state", "access_bookings", ["state"])
    op.create_index("ix_access_bookings_patient_state", "access_bookings", ["patient_id", "state"])
    op.create_table(
        "access_rides",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "booking_id",
            sa.String(36),
            sa.ForeignKey("access_bookings.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pickup_at", utc(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
    )
    op.create_index("ix_access_rides_booking_id", "access_rides", ["booking_id"])
    op.create_index("ix_access_rides_external_id", "access_rides", ["external_id"])
    op.create_index("ix_access_rides_status", "access_rides", ["status"])
    op.create_table(
        "access_waitlist",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("service", sa.String(64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("noshow_risk", sa.Float(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("offer_id", sa.String(36), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
    )
    op.create_index("ix_access_waitlist_state", "access_waitlist", ["state"])


def downgrade() -> None:
    op.drop_table("access_waitlist")
    op.drop_table("access_rides")
    op.drop_table("access_bookings")
    op.drop_table("access_offers")
