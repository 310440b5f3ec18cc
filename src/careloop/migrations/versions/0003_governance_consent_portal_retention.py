"""governance: consent, portal sign-in, proxy grants, audit checkpoints, retention runs"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0003"
down_revision = "0002"

USER = ddl.Ref("user_id", "users.id")


def upgrade() -> None:
    ddl.create_table(
        "consent_records",
        ddl.surrogate_id(),
        *ddl.columns(
            "patient_id str64, purpose str32, channel str16, status str16, source str32",
            "recorded_at utc, recorded_by str200, fhir_consent_id str128?, note str500?",
        ),
        indexes=ddl.indexed("patient_id", "fhir_consent_id"),
    )
    ddl.create_table(
        "portal_contacts",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns(
            "digest str64, system str16, value text, user_id int, patient_id str64",
            "caregiver_id str128?, verified_at utc, verified_by str200",
        ),
        refs=(USER,),
        indexes=ddl.indexed("digest", "user_id", "patient_id", "caregiver_id"),
    )
    ddl.create_table(
        "portal_codes",
        *ddl.columns(
            "id str64, user_id int, code_hash str64, created_at utc, expires_at utc, attempts int",
            "used_at utc?",
        ),
        refs=(USER,),
        indexes=ddl.indexed("user_id", "created_at"),
    )
    ddl.create_table(
        "proxy_grants",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns(
            "patient_id str64, caregiver_id str128, scopes json, granted_at utc, granted_by str200",
            "revoked_at utc?, revoked_by str200?",
        ),
        indexes=ddl.indexed("patient_id", "caregiver_id"),
    )
    ddl.create_table(
        "audit_checkpoints",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns(
            "upto_event_id id, upto_hash str64, purged_total id, aggregates json, created_at utc",
            "prev_signature str64?, signature str64",
        ),
    )
    ddl.create_table(
        "retention_runs",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns("target str64, ran_at utc, cutoff utc, deleted int, aggregates json"),
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
