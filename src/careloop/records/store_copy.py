"""PostgreSQL: resources not stored yet go straight into their tables by ``COPY``.

An upsert through a staging table costs the server every row twice (COPY into the staging
table, then INSERT ... SELECT ... ON CONFLICT). Most rows of an import are new, and a new row
cannot conflict, so :func:`copy_new` writes ``fhir_resources``, ``resource_codes`` and
``resource_facts`` rows of resources that did not exist with one ``COPY`` per table, from the
JSON text the parser process already made. ``records.store`` keeps the upsert for the rest.

The rows are COPY text lines built here: the JSON needs only its backslashes doubled (orjson
never writes a raw tab, newline or carriage return) and the other values are short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from careloop.records.extract import IndexedResource
from careloop.records.projection import fact_json, has_fact

NULL = b"\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
RESOURCE_COLUMNS = (
    "resource_type, fhir_id, patient_ref, status, effective_start, effective_end, codes, "
    "supported, resource, source, imported_at, patient_id"
)
CODE_COLUMNS = "resource_type, fhir_id, system, code, patient_id"
FACT_COLUMNS = "resource_type, fhir_id, codes, fact, patient_id"


def text(value: str | None) -> bytes:
    """A text value in COPY text format."""
    if value is None:
        return NULL
    return value.translate(_ESCAPES).encode()


def _time(value: datetime | None) -> bytes:
    return NULL if value is None else value.isoformat().encode()


def _json(raw: bytes) -> bytes:
    return raw.replace(b"\\", b"\\\\")


def existing_keys(cursor: Any, resources: Sequence[IndexedResource]) -> set[tuple[str, str]]:
    """Which of ``resources`` (type, FHIR id) are stored already: one indexed look-up."""
    cursor.execute(
        "SELECT resource_type, fhir_id FROM fhir_resources "
        "WHERE (resource_type, fhir_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([r.resource_type for r in resources], [r.fhir_id for r in resources]),
    )
    return {(rtype, fid) for rtype, fid in cursor.fetchall()}


def copy_new(
    cursor: Any,
    resources: Sequence[IndexedResource],
    owners: Sequence[str | None],
    *,
    source: str,
    now: datetime,
) -> None:
    """COPY rows of resources known not to be stored (the caller holds a savepoint: a
    resource written meanwhile by someone else fails the COPY instead of doubling)."""
    tail = b"\t".join((text(source[:500]), _time(now)))
    owner_text = [text(owner) for owner in owners]
    resource_lines = [
        b"\t".join((
            text(r.resource_type), text(r.fhir_id), text(r.patient_ref), text(r.status),
            _time(r.effective_start), _time(r.effective_end),
            text(" ".join(f"{s}|{c}" for s, c in r.codes)), b"t" if r.supported else b"f",
            _json(r.json), tail, owner,
        )) + b"\n"
        for r, owner in zip(resources, owner_text, strict=True)
    ]  # fmt: skip
    _copy(cursor, "fhir_resources", RESOURCE_COLUMNS, resource_lines)
    _copy(cursor, "resource_codes", CODE_COLUMNS, _code_lines(resources, owner_text))
    _copy(cursor, "resource_facts", FACT_COLUMNS, _fact_lines(resources, owner_text))


def _code_lines(resources: Sequence[IndexedResource], owners: Sequence[bytes]) -> list[bytes]:
    lines: list[bytes] = []
    for res, owner in zip(resources, owners, strict=True):
        if not res.codes:
            continue
        head = text(res.resource_type) + b"\t" + text(res.fhir_id) + b"\t"
        # The key holds the truncated values: two codes may become one.
        for system, code in dict.fromkeys((s[:255], c[:128]) for s, c in res.codes):
            lines.append(head + text(system) + b"\t" + text(code) + b"\t" + owner + b"\n")
    return lines


def _fact_lines(resources: Sequence[IndexedResource], owners: Sequence[bytes]) -> list[bytes]:
    lines: list[bytes] = []
    for res, owner in zip(resources, owners, strict=True):
        if not has_fact(res.resource_type, res.patient_ref):
            continue
        fact = res.fact_json
        if fact is None:
            fact = fact_json(res.resource, res.resource_type, res.patient_ref) or b"{}"
        codes = " ".join(dict.fromkeys(code[:128] for _, code in res.codes))
        lines.append(
            b"\t".join(
                (text(res.resource_type), text(res.fhir_id), text(codes), _json(fact), owner)
            )
            + b"\n"
        )
    return lines


def _copy(cursor: Any, table: str, columns: str, lines: Iterable[bytes]) -> None:
    data = b"".join(lines)
    if data:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            copy.write(data)
