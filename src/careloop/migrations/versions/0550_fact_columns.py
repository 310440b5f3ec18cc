"""resource_facts: typed columns of what measures read (codes as pairs, status, timing, value)

Revision ID: 0550
Revises: 0540
Create Date: 2026-12-06 11:10:00

The nightly run decoded every fact's JSON to build each patient's code index (issue 18).
These columns carry what measures read of most facts: the pairs at the type's primary code
path, status, effective/period start and end, a quantity's value and unit, and the pairs of
``category`` (an Encounter's ``class``). Existing rows are backfilled: status and timing from
their ``fhir_resources`` row (what import writes), the rest from the fact itself by a frozen
copy of ``careloop.records.fact_columns`` (no live domain code). Downgrade drops them.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl

revision: str = "0550"
down_revision: str | None = "0540"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "code_pairs text?, status str64?, start_at utc?, end_at utc?, value_num float?, "
    "value_unit str64?, category_pairs text?"
)
BATCH = 2000

# Frozen copy of careloop.records.fact_columns (2026-12-06) and fhirdata.codings.codings.
_CODE_PATHS = {
    "Encounter": "type",
    "MedicationRequest": "medicationCodeableConcept",
    "DeviceRequest": "codeCodeableConcept",
    "Immunization": "vaccineCode",
}
_US = "\x1f"
_RS = "\x1e"


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


def _pairs_at(concept: Any) -> tuple[tuple[Any, Any], ...]:
    if concept is None or isinstance(concept, list):
        return tuple((s, c) for s, c in _codings(concept) if s and c)
    return tuple(
        (c["system"], c["code"]) for c in concept.get("coding", ()) if "system" in c and "code" in c
    )


def _pairs_text(pairs: tuple[tuple[Any, Any], ...]) -> str | None:
    parts = []
    for system, code in pairs:
        if not (isinstance(system, str) and isinstance(code, str)):
            return None
        part = system + _US + code
        if part.count(_US) != 1 or _RS in part:
            return None
        parts.append(part)
    return _RS.join(parts)


def _columns(fact: dict[str, Any]) -> dict[str, Any]:
    try:
        code_pairs = _pairs_text(
            _pairs_at(fact.get(_CODE_PATHS.get(str(fact.get("resourceType")), "code")))
        )
    except (TypeError, AttributeError, KeyError):
        code_pairs = None
    quantity = fact.get("valueQuantity")
    value_num = value_unit = None
    if isinstance(quantity, dict):
        value = quantity.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                value_num = float(value)
            except OverflowError:
                value_num = None
        unit = quantity.get("unit")
        if isinstance(unit, str):
            value_unit = unit[:64]
    where = "class" if fact.get("resourceType") == "Encounter" else "category"
    return {
        "code_pairs": code_pairs,
        "value_num": value_num,
        "value_unit": value_unit,
        "category_pairs": _pairs_text(tuple(_codings(fact.get(where)))),
    }


def _backfill() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text(
            # One join, not three look-ups a row (UPDATE … FROM: PostgreSQL, SQLite ≥ 3.33).
            "UPDATE resource_facts SET status = r.status, start_at = r.effective_start, "
            "end_at = r.effective_end FROM fhir_resources r "
            "WHERE r.resource_type = resource_facts.resource_type "
            "AND r.fhir_id = resource_facts.fhir_id"
        )
    )
    fact_text = "CAST(fact AS TEXT)" if bind.dialect.name == "postgresql" else "fact"
    update = sa.text(
        "UPDATE resource_facts SET code_pairs = :code_pairs, value_num = :value_num, "
        "value_unit = :value_unit, category_pairs = :category_pairs "
        "WHERE resource_type = :rtype AND fhir_id = :fid"
    )
    after: tuple[str, str] = ("", "")
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT resource_type, fhir_id, {fact_text} FROM resource_facts "
                # A row comparison: the primary key's index starts at the last row done
                # (an OR of the two columns made every step scan from the table's start).
                "WHERE (resource_type, fhir_id) > (:t, :f) "
                "ORDER BY resource_type, fhir_id LIMIT :n"
            ),
            {"t": after[0], "f": after[1], "n": BATCH},
        ).all()
        if not rows:
            return
        bind.execute(
            update,
            [
                {"rtype": rtype, "fid": fid, **_columns(orjson.loads(fact))}
                for rtype, fid, fact in rows
            ],
        )
        after = (rows[-1][0], rows[-1][1])


def upgrade() -> None:
    ddl.add_columns("resource_facts", *ddl.columns(COLUMNS))
    _backfill()


def downgrade() -> None:
    ddl.drop_columns("resource_facts", *(column.name for column in ddl.columns(COLUMNS)))
