"""access: slot offers, holds and bookings (one live booking per slot), rides, the waitlist"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl
from careloop.migrations.columns import ID, JSON, utc

revision = "0180"
down_revision = "0170"


def upgrade() -> None:
    op.create_table(
        "access_offers",
        sa.Column("id", sa.String(36), primary_key=True),
        ddl.patient_column(),
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
    ddl.create_indexes(
        "access_offers",
        ddl.index("state"),
        ddl.index("patient_id", "state", name="ix_access_offers_patient_state"),
    )
    op.create_table(
        "access_bookings",
        sa.Column("id", sa.String(36), primary_key=True),
        ddl.patient_column(),
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
    ddl.create_indexes(
        "access_bookings",
        ddl.index("slot_id"),
        ddl.index("state"),
        ddl.index("patient_id", "state", name="ix_access_bookings_patient_state"),
    )
    op.create_table(
        "access_rides",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "booking_id",
            sa.String(36),
            sa.ForeignKey("access_bookings.id", ondelete="CASCADE"),
            nullable=False,
        ),
        ddl.patient_column(),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pickup_at", utc(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
    )
    ddl.create_indexes(
        "access_rides", ddl.index("booking_id"), ddl.index("external_id"), ddl.index("status")
    )
    op.create_table(
        "access_waitlist",
        sa.Column("id", ID, primary_key=True),
        ddl.patient_column(),
        sa.Column("service", sa.String(64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("noshow_risk", sa.Float(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("offer_id", sa.String(36), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
    )
    ddl.create_indexes("access_waitlist", ddl.index("state"))


def downgrade() -> None:
    ddl.drop_tables("access_waitlist", "access_rides", "access_bookings", "access_offers")
