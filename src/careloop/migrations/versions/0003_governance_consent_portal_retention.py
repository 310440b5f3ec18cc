"""governance: consent, portal sign-in, proxy grants, audit checkpoints, retention runs"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import ID, JSON, utc

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", utc(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("fhir_consent_id", sa.String(length=128), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_records_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consent_records_fhir_consent_id"), ["fhir_consent_id"], unique=False
        )

    op.create_table(
        "portal_contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("caregiver_id", sa.String(length=128), nullable=True),
        sa.Column("verified_at", utc(), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_portal_contacts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_contacts")),
    )
    with op.batch_alter_table("portal_contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_contacts_digest"), ["digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_contacts_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_portal_contacts_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_portal_contacts_caregiver_id"), ["caregiver_id"], unique=False
        )

    op.create_table(
        "portal_codes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_portal_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_codes")),
    )
    with op.batch_alter_table("portal_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_codes_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_portal_codes_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "proxy_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("caregiver_id", sa.String(length=128), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("granted_at", utc(), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proxy_grants")),
    )
    with op.batch_alter_table("proxy_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_proxy_grants_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_proxy_grants_caregiver_id"), ["caregiver_id"], unique=False
        )

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("upto_event_id", ID, nullable=False),
        sa.Column("upto_hash", sa.String(length=64), nullable=False),
        sa.Column("purged_total", ID, nullable=False),
        sa.Column("aggregates", JSON, nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("prev_signature", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("ran_at", utc(), nullable=False),
        sa.Column("cutoff", utc(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("aggregates", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_runs_target"), ["target"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_runs_target"))
    op.drop_table("retention_runs")
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("proxy_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proxy_grants_caregiver_id"))
        batch_op.drop_index(batch_op.f("ix_proxy_grants_patient_id"))
    op.drop_table("proxy_grants")
    with op.batch_alter_table("portal_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_codes_created_at"))
        batch_op.drop_index(batch_op.f("ix_portal_codes_user_id"))
    op.drop_table("portal_codes")
    with op.batch_alter_table("portal_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_contacts_caregiver_id"))
        batch_op.drop_index(batch_op.f("ix_portal_contacts_patient_id"))
        batch_op.drop_index(batch_op.f("ix_portal_contacts_user_id"))
        batch_op.drop_index(batch_op.f("ix_portal_contacts_digest"))
    op.drop_table("portal_contacts")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_records_fhir_consent_id"))
        batch_op.drop_index(batch_op.f("ix_consent_records_patient_id"))
    op.drop_table("consent_records")
