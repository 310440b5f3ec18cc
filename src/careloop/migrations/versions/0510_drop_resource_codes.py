"""fhir_resources: codes looked up in their own column; drop resource_codes

Revision ID: 0510
Revises: 0500
Create Date: 2026-12-06 06:00:00

``resource_codes`` held one row per coding (with a primary key and a second index), a copy
of ``fhir_resources.codes`` (space-separated ``system|code``) written at every import: about
a fifth of the server's work of an import (issue 18 item 5). Its look-ups now read the column
(``records.code_filter``): on PostgreSQL a GIN index over its elements answers "which
resources carry system|code"; the other filters run on rows already narrowed by patient.

Upgrade: a resource whose column is empty but which has code rows (none written by careloop
since the column exists; kept for any written by hand) gets them in its column first.
Downgrade: the table and its rows are rebuilt from the column (each element split at its
first ``|``, truncated to the table's widths as the writer did).
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl

revision: str = "0510"
down_revision: str | None = "0500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies (migrations never import live domain code): what ``records.extract`` read as
# a resource's codes and how ``records.code_filter`` writes them, as of this revision.
_CODE_FIELDS: dict[str, tuple[str, ...]] = {
    "Observation": ("code", "valueCodeableConcept"),
    "Condition": ("code",),
    "Procedure": ("code",),
    "Immunization": ("vaccineCode",),
    "MedicationRequest": ("medicationCodeableConcept",),
    "MedicationDispense": ("medicationCodeableConcept",),
    "MedicationAdministration": ("medicationCodeableConcept",),
    "Encounter": ("type", "class"),
    "DiagnosticReport": ("code",),
    "CarePlan": ("category",),
    "Goal": ("description",),
    "Appointment": ("serviceType", "appointmentType"),
    "Coverage": ("type",),
    "Consent": ("category", "scope"),
    "Questionnaire": ("code",),
    "RelatedPerson": ("relationship",),
    "AllergyIntolerance": ("code",),
    "Slot": ("serviceType", "serviceCategory", "specialty", "appointmentType"),
    "Schedule": ("serviceType", "serviceCategory", "specialty"),
    "HealthcareService": ("type", "category", "specialty"),
    "PractitionerRole": ("code", "specialty"),
    "Location": ("type", "physicalType"),
    "DocumentReference": ("type", "category"),
}
_SYSTEM_WIDTH, _CODE_WIDTH = 255, 128


def _codings(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, list):
        for item in value:
            yield from _codings(item)
        return
    if not isinstance(value, Mapping):
        return
    if isinstance(value.get("code"), str):
        yield str(value.get("system") or ""), value["code"]
    for coding in value.get("coding") or ():
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
            yield str(coding.get("system") or ""), coding["code"]


def resource_codes(resource: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    rtype = resource["resourceType"]
    codes: list[tuple[str, str]] = []
    for name in _CODE_FIELDS.get(rtype, ()):
        codes.extend(_codings(resource.get(name)))
    if rtype == "Observation":
        for component in resource.get("component") or []:
            if isinstance(component, dict):
                codes.extend(_codings(component.get("code")))
    return tuple(dict.fromkeys(codes))


def _quoted(value: str) -> str:
    return value.replace("%", "%25").replace(" ", "%20")


def column_text(codes: Sequence[tuple[str, str]]) -> str:
    return " ".join(
        dict.fromkeys(f"{_quoted(s[:_SYSTEM_WIDTH])}|{_quoted(c[:_CODE_WIDTH])}" for s, c in codes)
    )


INDEX = "ix_fhir_resources_codes"

FILL_EMPTY = """
UPDATE fhir_resources SET codes = (
    SELECT {joined} FROM resource_codes c
     WHERE c.resource_type = fhir_resources.resource_type AND c.fhir_id = fhir_resources.fhir_id)
 WHERE codes = '' AND EXISTS (
    SELECT 1 FROM resource_codes c
     WHERE c.resource_type = fhir_resources.resource_type AND c.fhir_id = fhir_resources.fhir_id)
"""
JOINED = {
    "postgresql": "string_agg(c.system || '|' || c.code, ' ' ORDER BY c.system, c.code)",
    "sqlite": "group_concat(c.system || '|' || c.code, ' ')",
}

REFILL_PG = """
INSERT INTO resource_codes (resource_type, fhir_id, system, code, patient_id)
SELECT r.resource_type, r.fhir_id,
       left(replace(replace(split_part(e.coding, '|', 1), '%20', ' '), '%25', '%'), 255),
       left(replace(replace(substr(e.coding, strpos(e.coding, '|') + 1), '%20', ' '), '%25', '%'),
            128), r.patient_id
  FROM fhir_resources r, unnest(string_to_array(r.codes, ' ')) AS e(coding)
 WHERE r.codes <> '' AND strpos(e.coding, '|') > 0
ON CONFLICT DO NOTHING
"""

CUT_LONG_PG = """
UPDATE fhir_resources SET codes = (
    SELECT string_agg(CASE WHEN strpos(u.e, '|') > 0
                           THEN left(split_part(u.e, '|', 1), 255) || '|'
                                || left(substr(u.e, strpos(u.e, '|') + 1), 128)
                           ELSE left(u.e, 128) END, ' ' ORDER BY u.n)
      FROM unnest(string_to_array(codes, ' ')) WITH ORDINALITY AS u(e, n))
 WHERE length(codes) > 128
"""


def _create_codes_table() -> None:
    """The table as 0001 made it."""
    ddl.create_table(
        "resource_codes",
        *ddl.columns(
            "resource_type str64, fhir_id str128, system str255, code str128, patient_id str64?"
        ),
        key=("resource_type", "fhir_id", "system", "code"),
        indexes=(ddl.index("code", "system", name="ix_resource_codes_code"),),
    )


def _encode_spaced(bind: sa.Connection) -> None:
    """Rows written with a code holding a space or a ``%`` get the column's encoding
    (``records.code_filter.element``), read again from their JSON; a column that is not
    what the writer made of that JSON (filled by hand) is left as it is."""
    rows = bind.execute(
        sa.text(
            "SELECT resource_type, fhir_id, codes, resource FROM fhir_resources "
            "WHERE codes LIKE '% %' OR codes LIKE '%!%%' ESCAPE '!'"
        )
    ).fetchall()
    update = sa.text(
        "UPDATE fhir_resources SET codes = :codes WHERE resource_type = :rtype AND fhir_id = :fid"
    )
    changed = []
    for rtype, fid, codes, resource in rows:
        pairs = resource_codes(json.loads(resource) if isinstance(resource, str) else resource)
        encoded = column_text(pairs)
        if codes == " ".join(f"{s}|{c}" for s, c in pairs) and encoded != codes:
            changed.append({"codes": encoded, "rtype": rtype, "fid": fid})
    for start in range(0, len(changed), 1000):
        bind.execute(update, changed[start : start + 1000])


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    _encode_spaced(bind)
    op.execute(FILL_EMPTY.format(joined=JOINED.get(dialect, JOINED["sqlite"])))
    if dialect == "postgresql":
        op.execute(CUT_LONG_PG)  # a GIN entry over ~2.7 kB would fail the CREATE INDEX
        op.execute(
            f"CREATE INDEX {INDEX} ON fhir_resources USING gin (string_to_array(codes, ' '))"
        )
    op.drop_index("ix_resource_codes_code", table_name="resource_codes")
    op.drop_table("resource_codes")


def downgrade() -> None:
    bind = op.get_bind()
    _create_codes_table()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX {INDEX}")
        op.execute(REFILL_PG)
        return
    rows = bind.execute(
        sa.text(
            "SELECT resource_type, fhir_id, codes, patient_id FROM fhir_resources WHERE codes <> ''"
        )
    )
    insert = sa.text(
        "INSERT OR IGNORE INTO resource_codes (resource_type, fhir_id, system, code, patient_id) "
        "VALUES (:resource_type, :fhir_id, :system, :code, :patient_id)"
    )
    batch: list[dict[str, str | None]] = []
    for rtype, fhir_id, codes, patient_id in rows.fetchall():
        for coding in codes.split(" "):
            system, bar, code = (
                part.replace("%20", " ").replace("%25", "%") for part in coding.partition("|")
            )
            if bar:
                batch.append({
                    "resource_type": rtype, "fhir_id": fhir_id, "system": system[:255],
                    "code": code[:128], "patient_id": patient_id,
                })  # fmt: skip
    for start in range(0, len(batch), 1000):
        bind.execute(insert, batch[start : start + 1000])
