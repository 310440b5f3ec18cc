"""access: slot offers, holds and bookings (one live booking per slot), rides, the waitlist"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl
from careloop.migrations.columns import ID

revision = "0180"
down_revision = "0170"


def upgrade() -> None:
    op.create_table(
        "access_offers",
        sa.Column("id", sa.String(36), primary_key=True),
        ddl.patient_column(),
        *ddl.columns(
            "kind str16, state str16, service str64?, choices json, outbox_id bigint?",
            "booking_id str36?, created_at utc, expires_at utc, answered_at utc?",
        ),
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
        *ddl.columns(
            "slot_id str64, active_slot str64?, offer_id str36?, state str16, mode str16",
            "ride bool, channel str16, start utc, end utc, held_until utc?, appointment_id str64?",
            "created_at utc, updated_at utc",
        ),
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
        *ddl.columns(
            "provider str32, external_id str128?, status str16, pickup_at utc, created_at utc",
            "updated_at utc",
        ),
    )
    ddl.create_indexes(
        "access_rides", ddl.index("booking_id"), ddl.index("external_id"), ddl.index("status")
    )
    op.create_table(
        "access_waitlist",
        sa.Column("id", ID, primary_key=True),
        ddl.patient_column(),
        *ddl.columns(
            "service str64?, priority int, noshow_risk float?, state str16, offer_id str36?",
            "created_at utc, updated_at utc",
        ),
    )
    ddl.create_indexes("access_waitlist", ddl.index("state"))


def downgrade() -> None:
    ddl.drop_tables("access_waitlist", "access_rides", "access_bookings", "access_offers")
