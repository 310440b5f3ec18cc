"""PostgreSQL: resources not stored yet go straight into their tables by ``COPY``.

An upsert through a staging table costs the server every row twice (COPY into the staging
table, then INSERT ... SELECT ... ON CONFLICT). Most rows of an import are new, and a new row
cannot conflict, so :func:`copy_new` writes the ``fhir_resources`` rows of resources that
did not exist with one ``COPY``, from the JSON text the parser process already made (their
codes are a column of that row, ``records.code_filter``). ``records.store`` keeps the
upsert for the rest.

Their ``resource_facts`` and the facts' JSON (``resource_fact_bodies``) are projected by the
server from the rows just copied (the stored JSONB without the dropped fields,
``records.projection``): a fact is most of its resource, and sending it as a second JSON
document cost its serialising, pickling, sending and parsing again.

The rows are COPY text lines built here: the JSON needs only its backslashes doubled (orjson
never writes a raw tab, newline or carriage return) and the other values are short.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from careloop.records.code_filter import column_text
from careloop.records.extract import IndexedResource
from careloop.records.fact_columns import COLUMNS_VERSION, copied_columns
from careloop.records.projection import DROPPED_FIELDS, PATIENT_DROPPED, has_fact

NULL = b"\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
RESOURCE_COLUMNS = (
    "resource_type, fhir_id, patient_ref, status, effective_start, effective_end, codes, "
    "supported, resource, source, imported_at, patient_id"
)
PROJECT_FACTS = (
    "WITH r AS (SELECT r.resource_type, r.fhir_id, r.resource, r.patient_id, r.status, "
    "r.effective_start, r.effective_end, k FROM jsonb_array_elements(%(keys)s::jsonb) AS k "
    "JOIN fhir_resources AS r ON r.resource_type = k ->> 0 AND r.fhir_id = k ->> 1), "
    "bodies AS (INSERT INTO resource_fact_bodies (resource_type, fhir_id, fact) "
    "SELECT resource_type, fhir_id, resource - CASE resource_type "
    "WHEN 'Patient' THEN %(patient)s::text[] ELSE %(dropped)s::text[] END FROM r) "
    "INSERT INTO resource_facts (resource_type, fhir_id, codes, patient_id, code_pairs, "
    "status, start_at, end_at, value_num, value_unit, category_pairs, columns_version) "
    "SELECT resource_type, fhir_id, k ->> 2, patient_id, k ->> 3, status, effective_start, "
    f"effective_end, (k ->> 4)::float8, k ->> 5, k ->> 6, {COLUMNS_VERSION} FROM r"
)
"""The facts of rows just copied (keys, bare codes and the computed typed columns sent as
one JSON text), by the same rule as ``records.projection.fact_rows`` (its owner, status and
timing are its resource's row's): the narrow row and its body, in one statement (the rows
joined once, a CTE both inserts read)."""
PROJECT_BODIES = (
    "INSERT INTO resource_fact_bodies (resource_type, fhir_id, fact) "
    "SELECT r.resource_type, r.fhir_id, r.resource - CASE r.resource_type "
    "WHEN 'Patient' THEN %(patient)s::text[] ELSE %(dropped)s::text[] END "
    "FROM jsonb_array_elements(%(keys)s::jsonb) AS k "
    "JOIN fhir_resources AS r ON r.resource_type = k ->> 0 AND r.fhir_id = k ->> 1"
)
"""The facts' JSON of rows just copied whose narrow rows the parsers made
(``records.copy_block``): keys only, so nothing is materialised between two inserts."""
_DROPPED = list(DROPPED_FIELDS)
_PATIENT_DROPPED = [*DROPPED_FIELDS, *PATIENT_DROPPED]
FACT_ARGS = {"dropped": _DROPPED, "patient": _PATIENT_DROPPED}
"""``PROJECT_FACTS``'s parameters other than its keys."""


Stamp = tuple[str, datetime]
"""Where a resource was read from and when it was imported (``source``, ``imported_at``)."""

_SPECIAL = re.compile(r"[\\\t\n\r]")


def text(value: str | None) -> bytes:
    """A text value in COPY text format."""
    if value is None:
        return NULL
    if _SPECIAL.search(value) is None:
        return value.encode()
    return value.translate(_ESCAPES).encode()


def _time(value: datetime | None) -> bytes:
    return NULL if value is None else value.isoformat().encode()


def _json(raw: bytes) -> bytes:
    return raw.replace(b"\\", b"\\\\")


def existing_keys(cursor: Any, resources: Sequence[IndexedResource]) -> set[tuple[str, str]]:
    """Which of ``resources`` (type, FHIR id) are stored already: one indexed look-up, the
    keys sent as one JSON text (binding two arrays of strings cost more than the query)."""
    keys = orjson.dumps([[r.resource_type, r.fhir_id] for r in resources]).decode()
    cursor.execute(
        "SELECT resource_type, fhir_id FROM fhir_resources WHERE (resource_type, fhir_id) IN "
        "(SELECT key ->> 0, key ->> 1 FROM jsonb_array_elements(%s::jsonb) AS key)",
        (keys,),
    )
    return {(rtype, fid) for rtype, fid in cursor.fetchall()}


class CopyText:
    """A resource's COPY line, made in the parser process and completed in the writer:
    ``resource`` stops before the JSON (which crosses the process boundary once, as the
    resource's own); ``fact``: the bare codes of its fact and its computed typed columns
    (``records.fact_columns.copied_columns``), None when it gets none."""

    __slots__ = ("fact", "resource")

    def __init__(self, resource: bytes, fact: tuple[Any, ...] | None) -> None:
        self.resource = resource
        self.fact = fact

    def __reduce__(self) -> tuple[Any, ...]:
        return (CopyText, (self.resource, self.fact))


def _fields(values: Sequence[str | None]) -> str:
    """``values`` as COPY text fields, each followed by a tab. Most values have nothing to
    escape: the joined line is kept when its tabs and backslashes are only the separators
    and the NULL markers (string methods in C instead of a look at each value)."""
    line = "\t".join(["\\N" if v is None else v for v in values]) + "\t"
    if (
        line.count("\t") == len(values)
        and line.count("\\") == values.count(None)
        and "\n" not in line
        and "\r" not in line
    ):
        return line
    return "".join(["\\N\t" if v is None else v.translate(_ESCAPES) + "\t" for v in values])


_ISO: dict[datetime, str] = {}
_CODE_TEXTS: dict[tuple[tuple[str, str], ...], tuple[str, str]] = {}
"""Texts made before, by value: a unit's resources share their times (an encounter's) and
codes (a LOINC code's) with others; a look-up costs less than making the text again."""
_KEPT = 20_000


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = _ISO.get(value)
    if text is None:
        if len(_ISO) >= _KEPT:
            _ISO.clear()
        text = _ISO[value] = value.isoformat()
    return text


def code_texts(codes: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """The ``codes`` column text and the fact's bare codes of a resource with ``codes``."""
    texts = _CODE_TEXTS.get(codes)
    if texts is None:
        if len(_CODE_TEXTS) >= _KEPT:
            _CODE_TEXTS.clear()
        bare = " ".join(dict.fromkeys([code[:128] for _, code in codes]))
        texts = _CODE_TEXTS[codes] = (column_text(codes), bare)
    return texts


def copy_parts(
    res: IndexedResource, *, parsed: bool = False
) -> tuple[bytes, tuple[Any, ...] | None]:
    """:func:`copy_text`'s two parts, without the object that holds them. ``parsed``: the
    resource was decoded from JSON text (``fact_columns.copied_columns``)."""
    start = _iso(res.effective_start)
    # A moment is its own start and end (one object): written once, used twice.
    end = start if res.effective_end is res.effective_start else _iso(res.effective_end)
    column, bare = code_texts(res.codes)
    resource = _fields((
        res.resource_type, res.fhir_id, res.patient_ref, res.status, start, end,
        column, "t" if res.supported else "f",
    ))  # fmt: skip
    fact = None
    if has_fact(res.resource_type, res.patient_ref):
        fact = (bare, *copied_columns(res.resource, parsed=parsed))
    return resource.encode(), fact


def copy_text(res: IndexedResource) -> CopyText:
    """The COPY text of ``res`` for ``fhir_resources`` (it ends before the JSON: source,
    import time and owner come after) and its fact's codes."""
    return CopyText(*copy_parts(res))


STREAM_ROWS = 500
"""Rows sent to the server at a time: it parses and indexes them while the next are built."""


def copy_new(
    cursor: Any,
    resources: Sequence[IndexedResource],
    owners: Sequence[str | None],
    stamps: Sequence[Stamp],
) -> None:
    """COPY rows of resources known not to be stored (the caller holds a savepoint: a
    resource written meanwhile by someone else fails the COPY instead of doubling).
    ``stamps``: each resource's (source, import time).

    The rows are streamed a few hundred at a time, so the server's half of the COPY (JSONB
    parsing, five indexes, the owner's foreign key) overlaps this process's building of the
    rest instead of following it."""
    middles: dict[Stamp, bytes] = {}
    ends: dict[str | None, bytes] = {}
    facts: list[tuple[Any, ...]] = []
    with cursor.copy(f"COPY fhir_resources ({RESOURCE_COLUMNS}) FROM STDIN") as copy:
        parts: list[bytes] = []
        for count, (res, owner, stamp) in enumerate(
            zip(resources, owners, stamps, strict=True), start=1
        ):
            lines = res.copy_text if isinstance(res.copy_text, CopyText) else copy_text(res)
            end = ends.get(owner)
            if end is None:
                end = ends[owner] = (NULL if owner is None else text(owner)) + b"\n"
            middle = middles.get(stamp)
            if middle is None:
                middle = middles[stamp] = text(stamp[0][:500]) + b"\t" + _time(stamp[1]) + b"\t"
            parts += (lines.resource, _json(res.json), b"\t", middle, end)
            if lines.fact is not None:
                facts.append((res.resource_type, res.fhir_id, *lines.fact))
            if count % STREAM_ROWS == 0:
                copy.write(b"".join(parts))
                parts.clear()
        if parts:
            copy.write(b"".join(parts))
    if facts:
        keys = orjson.dumps(facts).decode()
        cursor.execute(PROJECT_FACTS, {"keys": keys, **FACT_ARGS})
