"""PostgreSQL: a unit's ``fhir_resources`` COPY rows, grouped by the parser process.

The writer is the import's chain with the server: every CPU second it spends between
statements is a second of wall time (the parsers finish early and their core then idles).
Joining each resource's COPY line in the writer (its JSON escaped, its source, import time and
owner appended) cost it a Python step per resource. Here the parser groups a unit's rows by
patient reference, each row's head made (its columns up to and including the JSON): all rows
of a group end in the same tail (the unit's source and import time, the reference's owner),
so the writer joins a group with one ``tail.join(heads)``. The rows it must not copy (stored
already, or superseded by a later unit of its batch) are left out of their group first.

The rows are in COPY's binary format: each value is its length and its bytes, so the JSON is
sent as it is (no backslash doubled here, none undone by the server), times go as their
microseconds (no ISO text to write and parse) and the server does not scan every byte of the
row for tabs and escapes: 0.58-0.60 s against 0.64-0.76 s of server CPU for the 25,405 rows
of 100 Synthea files (docs/benchmarks.md, impx).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from careloop.records.extract import IndexedResource
from careloop.records.fact_columns import copied_columns
from careloop.records.projection import has_fact
from careloop.records.store_copy import (
    FACT_ARGS,
    PROJECT_FACTS,
    RESOURCE_COLUMNS,
    Stamp,
    code_texts,
)

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""The binary COPY header: its signature, no flags, no extension."""
TRAILER = b"\xff\xff"
NULL_VALUE = b"\xff\xff\xff\xff"
FIELDS = struct.pack("!h", len(RESOURCE_COLUMNS.split(",")))
"""Each row starts with its count of values."""
_LENGTH = struct.Struct("!i").pack
_TIME = struct.Struct("!iq").pack
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TRUE = _LENGTH(1) + b"\x01"
_FALSE = _LENGTH(1) + b"\x00"
_JSONB_VERSION = b"\x01"


def text_value(value: str | None) -> bytes:
    """A text value in COPY's binary format."""
    if value is None:
        return NULL_VALUE
    raw = value.encode()
    return _LENGTH(len(raw)) + raw


def time_value(value: datetime | None) -> bytes:
    """A ``timestamptz`` in COPY's binary format: microseconds since 2000-01-01 UTC (the
    same instant its ISO text gives)."""
    return NULL_VALUE if value is None else _instant(value)


@lru_cache(maxsize=20_000)
def _instant(value: datetime) -> bytes:
    """Kept by value: a unit's resources share their times (an encounter's). Equal
    datetimes are one instant, so one value serves all of them."""
    return _TIME(8, (value - _EPOCH) // _MICROSECOND)


def binary_head(res: IndexedResource, *, parsed: bool = False) -> tuple[bytes, Any]:
    """The start of ``res``'s binary row (its values up to the JSON) and its fact's bare codes
    and typed columns (None when it gets no fact), as ``store_copy.copy_parts`` makes them
    for a text line."""
    start = time_value(res.effective_start)
    end = start if res.effective_end is res.effective_start else time_value(res.effective_end)
    column, bare = code_texts(res.codes)
    head = b"".join((
        FIELDS, text_value(res.resource_type), text_value(res.fhir_id),
        text_value(res.patient_ref), text_value(res.status), start, end, text_value(column),
        _TRUE if res.supported else _FALSE,
    ))  # fmt: skip
    fact = None
    if has_fact(res.resource_type, res.patient_ref):
        fact = (bare, *copied_columns(res.resource, parsed=parsed))
    return head, fact


class UnitRows:
    """A unit's COPY row heads grouped by patient reference (groups in order of first
    appearance, lines in the unit's order) and its facts' keys and typed columns (one JSON
    array a line, in the unit's order, an empty line for a resource with no fact)."""

    __slots__ = ("facts", "groups")

    def __init__(self, groups: tuple[tuple[str | None, list[bytes]], ...], facts: bytes) -> None:
        self.groups = groups
        self.facts = facts

    def __reduce__(self) -> tuple[Any, ...]:
        return (UnitRows, (self.groups, self.facts))


def unit_rows(resources: Sequence[IndexedResource], *, parsed: bool = False) -> UnitRows:
    """The unit's row heads by patient reference, and its facts (``parsed``: the resources
    were decoded from JSON text, ``fact_columns.copied_columns``).

    Each resource's ``copy_text`` becomes its head and where its JSON starts there (the head
    ends with it, as is): pickled with its unit, a resource then carries its JSON only inside
    that head (written once, the same object as in the rows), and the writer cuts it out only
    if it asks for it (Patients, RelatedPersons, the upsert's rows): ~18 MB less to pickle,
    send and unpickle for 100 Synthea files."""
    groups: dict[str | None, list[bytes]] = {}
    facts: list[bytes] = []
    dumps = orjson.dumps
    for res in resources:
        start, fact = binary_head(res, parsed=parsed)
        json = res.json
        head = b"".join((start, _LENGTH(len(json) + 1), _JSONB_VERSION, json))
        res.copy_text = (head, len(head) - len(json))
        group = groups.get(res.patient_ref)
        if group is None:
            groups[res.patient_ref] = [head]
        else:
            group.append(head)
        facts.append(b"" if fact is None else dumps((res.resource_type, res.fhir_id, *fact)))
    return UnitRows(tuple(groups.items()), b"\n".join(facts))


def _left(
    unit: Sequence[IndexedResource], rows: UnitRows, dropped: set[int]
) -> tuple[list[tuple[str | None, list[bytes]]], list[bytes]]:
    """The unit's groups and fact lines without the lines at ``dropped``."""
    at: dict[str | None, int] = {}
    gone: dict[str | None, set[int]] = {}
    for i, res in enumerate(unit):
        place = at.get(res.patient_ref, 0)
        at[res.patient_ref] = place + 1
        if i in dropped:
            gone.setdefault(res.patient_ref, set()).add(place)
    groups = [
        (
            ref,
            [head for j, head in enumerate(heads) if j not in gone[ref]] if ref in gone else heads,
        )
        for ref, heads in rows.groups
    ]
    facts = [line for i, line in enumerate(rows.facts.split(b"\n")) if i not in dropped]
    return groups, facts


def copy_units(
    cursor: Any,
    units: Sequence[tuple[Sequence[IndexedResource], UnitRows, Stamp, set[int]]],
    owners: Mapping[str | None, str | None],
) -> None:
    """COPY the units' rows (less those at each unit's dropped positions) into
    ``fhir_resources`` and project their facts. ``owners``: each patient reference's
    careloop patient id (None: not known yet). The caller holds a savepoint."""
    facts: list[bytes] = []
    statement = f"COPY fhir_resources ({RESOURCE_COLUMNS}) FROM STDIN (FORMAT binary)"
    with cursor.copy(statement) as copy:
        copy.write(SIGNATURE)
        for unit, rows, (source, now), dropped in units:
            if dropped:
                groups, lines = _left(unit, rows, dropped)
                facts += lines
            else:
                groups = list(rows.groups)
                facts.append(rows.facts)
            middle = text_value(source[:500]) + time_value(now)
            parts: list[bytes] = []
            for ref, heads in groups:
                if heads:
                    owner = owners.get(ref) if ref else None
                    tail = middle + text_value(owner)
                    parts += (tail.join(heads), tail)
            copy.write(b"".join(parts))
        copy.write(TRAILER)
    keys = b",".join(filter(None, b"\n".join(facts).split(b"\n")))
    if keys:
        cursor.execute(PROJECT_FACTS, {"keys": (b"[" + keys + b"]").decode(), **FACT_ARGS})
