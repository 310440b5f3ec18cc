"""governance: consent, portal sign-in, proxy grants, audit checkpoints, retention runs"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import ID, JSON, utc

revision = "0003"
down_revision = "0002"

USER = ddl.Ref("user_id", "users.id")


def upgrade() -> None:
    ddl.create_table(
        "consent_records",
        ddl.surrogate_id(),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", utc(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("fhir_consent_id", sa.String(length=128), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        indexes=ddl.indexed("patient_id", "fhir_consent_id"),
    )
    ddl.create_table(
        "portal_contacts",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("caregiver_id", sa.String(length=128), nullable=True),
        sa.Column("verified_at", utc(), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=False),
        refs=(USER,),
        indexes=ddl.indexed("digest", "user_id", "patient_id", "caregiver_id"),
    )
    ddl.create_table(
        "portal_codes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", utc(), nullable=True),
        refs=(USER,),
        indexes=ddl.indexed("user_id", "created_at"),
    )
    ddl.create_table(
        "proxy_grants",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("caregiver_id", sa.String(length=128), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("granted_at", utc(), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        indexes=ddl.indexed("patient_id", "caregiver_id"),
    )
    ddl.create_table(
        "audit_checkpoints",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("upto_event_id", ID, nullable=False),
        sa.Column("upto_hash", sa.String(length=64), nullable=False),
        sa.Column("purged_total", ID, nullable=False),
        sa.Column("aggregates", JSON, nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("prev_signature", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.String(length=64), nullable=False),
    )
    ddl.create_table(
        "retention_runs",
        ddl.surrogate_id(sa.Integer()),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("ran_at", utc(), nullable=False),
        sa.Column("cutoff", utc(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("aggregates", JSON, nullable=False),
        indexes=(ddl.index("target"),),
    )


def downgrade() -> None:
    ddl.drop_tables(
        "retention_runs",
        "audit_checkpoints",
        "proxy_grants",
        "portal_codes",
        "portal_contacts",
        "consent_records",
    )
