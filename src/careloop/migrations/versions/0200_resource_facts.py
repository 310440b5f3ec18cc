"""resource_facts: the identification projection, one compact row per clinical resource

Backfilled here in SQL from ``fhir_resources`` and ``resource_codes`` (no live domain code):
the stored resource minus the fields the measure engine never reads, the same rule as
``careloop.records.projection`` applies at import (frozen copy of its lists below).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careloop.models.types
from careloop.migrations import ddl

revision = "0200"
down_revision = "0190"

# Frozen copies of careloop.records.projection.DROPPED_FIELDS / PATIENT_DROPPED / SKIPPED_TYPES.
_DROPPED = (
    "text", "identifier", "subject", "patient", "beneficiary", "participant", "performer",
    "serviceProvider", "requester", "recorder", "asserter", "presentedForm", "note",
    "careTeam", "result", "reasonReference", "location", "generalPractitioner",
    "managingOrganization",
)  # fmt: skip
_PATIENT_DROPPED = (
    "name", "telecom", "address", "photo", "contact", "maritalStatus", "communication",
    "link", "multipleBirthBoolean", "multipleBirthInteger",
)  # fmt: skip
_SKIPPED = (
    "Claim", "ExplanationOfBenefit", "Provenance", "DocumentReference", "ImagingStudy",
    "Media", "Binary", "Organization", "Practitioner", "PractitionerRole", "Location",
)  # fmt: skip


def _backfill_postgresql() -> None:
    op.execute(
        sa.text(
            """
            INSERT INTO resource_facts (resource_type, fhir_id, patient_id, codes, fact)
            SELECT f.resource_type, f.fhir_id, f.patient_id,
                   COALESCE((SELECT string_agg(c.code, ' ' ORDER BY c.system, c.code)
                             FROM resource_codes c
                             WHERE c.resource_type = f.resource_type
                               AND c.fhir_id = f.fhir_id), ''),
                   CASE WHEN f.resource_type = 'Patient'
                        THEN f.resource - CAST(:dropped AS text[]) - CAST(:patient AS text[])
                        ELSE f.resource - CAST(:dropped AS text[]) END
            FROM fhir_resources f
            WHERE f.patient_ref IS NOT NULL AND f.resource_type <> ALL(CAST(:skipped AS text[]))
            """
        ).bindparams(dropped=list(_DROPPED), patient=list(_PATIENT_DROPPED), skipped=list(_SKIPPED))
    )


def _backfill_sqlite() -> None:
    def remove(keys: Sequence[str]) -> str:
        return ", ".join(f"'$.{key}'" for key in keys)

    skipped = ", ".join(f"'{name}'" for name in _SKIPPED)
    op.execute(
        f"""
        INSERT INTO resource_facts (resource_type, fhir_id, patient_id, codes, fact)
        SELECT f.resource_type, f.fhir_id, f.patient_id,
               COALESCE((SELECT group_concat(c.code, ' ')
                         FROM (SELECT code FROM resource_codes c
                               WHERE c.resource_type = f.resource_type
                                 AND c.fhir_id = f.fhir_id
                               ORDER BY c.system, c.code) c), ''),
               CASE WHEN f.resource_type = 'Patient'
                    THEN json_remove(f.resource, {remove(_DROPPED + _PATIENT_DROPPED)})
                    ELSE json_remove(f.resource, {remove(_DROPPED)}) END
        FROM fhir_resources f
        WHERE f.patient_ref IS NOT NULL AND f.resource_type NOT IN ({skipped})
        """
    )


def upgrade() -> None:
    op.create_table(
        "resource_facts",
        *ddl.columns("resource_type str64, fhir_id str128, patient_id str64?, codes text"),
        sa.Column("fact", careloop.models.types.JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_type", "fhir_id"],
            ["fhir_resources.resource_type", "fhir_resources.fhir_id"],
            name="fk_resource_facts_resource_type_fhir_resources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resource_type", "fhir_id", name="pk_resource_facts"),
    )
    op.create_index(
        "ix_resource_facts_patient_type", "resource_facts", ["patient_id", "resource_type"]
    )
    if op.get_bind().dialect.name == "postgresql":
        _backfill_postgresql()
    else:
        _backfill_sqlite()


def downgrade() -> None:
    op.drop_index("ix_resource_facts_patient_type", table_name="resource_facts")
    op.drop_table("resource_facts")
