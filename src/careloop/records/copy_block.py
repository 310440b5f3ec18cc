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

The facts' narrow rows (``resource_facts``) are made here too, in the same format, grouped
the same way (their tail is the owner), and go in by a second ``COPY``: every value of such a
row is known to the parser (its owner to the writer), so the server neither joins back to the
rows just copied nor materialises them beside a second insert, which spilled the batch's
resources to temporary files (29 MB for 100 Synthea files). Only the facts' JSON (the stored
resource less a few fields) is still projected by the server, from the copied rows
(``store_copy.PROJECT_BODIES``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any

import orjson

from careloop.records.extract import IndexedResource
from careloop.records.fact_columns import COLUMNS_VERSION, copied_columns
from careloop.records.projection import has_fact
from careloop.records.store_copy import (
    FACT_ARGS,
    PROJECT_BODIES,
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
_FLOAT = struct.Struct("!id").pack
FACT_COLUMNS = (
    "resource_type, fhir_id, codes, code_pairs, status, start_at, end_at, value_num, "
    "value_unit, category_pairs, columns_version, patient_id"
)
"""A fact row's columns as COPY'd: the owner last, the writer's tail (as for a resource)."""
_FACT_FIELDS = struct.pack("!h", len(FACT_COLUMNS.split(",")))
_VERSION = struct.pack("!ii", 4, COLUMNS_VERSION)


def text_value(value: str | None) -> bytes:
    """A text value in COPY's binary format."""
    if value is None:
        return NULL_VALUE
    raw = value.encode()
    return _LENGTH(len(raw)) + raw


_REPEATED: dict[str | None, bytes] = {None: NULL_VALUE}
_KEPT = 20_000


def repeated_value(value: str | None) -> bytes:
    """:func:`text_value` of a text many rows share (a type, a status, a patient's reference,
    a LOINC code's columns), kept by value: a look-up costs less than encoding it again."""
    raw = _REPEATED.get(value)
    if raw is None:
        if len(_REPEATED) >= _KEPT:
            _REPEATED.clear()
            _REPEATED[None] = NULL_VALUE
        raw = _REPEATED[value] = text_value(value)
    return raw


def time_value(value: datetime | None) -> bytes:
    """A ``timestamptz`` in COPY's binary format: microseconds since 2000-01-01 UTC (the
    same instant its ISO text gives)."""
    return NULL_VALUE if value is None else _instant(value)


@lru_cache(maxsize=20_000)
def _instant(value: datetime) -> bytes:
    """Kept by value: a unit's resources share their times (an encounter's). Equal
    datetimes are one instant, so one value serves all of them."""
    return _TIME(8, (value - _EPOCH) // _MICROSECOND)


def binary_head(res: IndexedResource, *, parsed: bool = False) -> tuple[bytes, bytes | None]:
    """The start of ``res``'s binary row (its values up to the JSON) and its fact's row up to
    its owner (None when it gets no fact): the fact's bare codes and typed columns as
    ``store_copy.copy_parts`` computes them, its status and times its resource's."""
    rtype, fid = repeated_value(res.resource_type), text_value(res.fhir_id)
    status = repeated_value(res.status)
    start = time_value(res.effective_start)
    end = start if res.effective_end is res.effective_start else time_value(res.effective_end)
    column, bare = code_texts(res.codes)
    head = b"".join((
        FIELDS, rtype, fid, repeated_value(res.patient_ref), status, start, end,
        repeated_value(column), _TRUE if res.supported else _FALSE,
    ))  # fmt: skip
    if not has_fact(res.resource_type, res.patient_ref):
        return head, None
    pairs, value, unit, category = copied_columns(res.resource, parsed=parsed)
    fact = b"".join((
        _FACT_FIELDS, rtype, fid, repeated_value(bare), repeated_value(pairs), status, start,
        end, NULL_VALUE if value is None else _FLOAT(8, value), repeated_value(unit),
        repeated_value(category), _VERSION,
    ))  # fmt: skip
    return head, fact


Groups = tuple[tuple[str | None, list[bytes]], ...]


class UnitRows:
    """A unit's COPY row heads grouped by patient reference (groups in order of first
    appearance, lines in the unit's order), its facts' row heads grouped the same way (only
    the resources that get one), and its facts' keys (one JSON array a line, in the unit's
    order, an empty line for a resource with no fact)."""

    __slots__ = ("facts", "groups", "keys")

    def __init__(self, groups: Groups, facts: Groups, keys: bytes) -> None:
        self.groups = groups
        self.facts = facts
        self.keys = keys

    def __reduce__(self) -> tuple[Any, ...]:
        return (UnitRows, (self.groups, self.facts, self.keys))


def unit_rows(resources: Sequence[IndexedResource], *, parsed: bool = False) -> UnitRows:
    """The unit's row heads and fact rows by patient reference, and its facts' keys
    (``parsed``: the resources were decoded from JSON text, ``fact_columns.copied_columns``).

    Each resource's ``copy_text`` becomes its head and where its JSON starts there (the head
    ends with it, as is): pickled with its unit, a resource then carries its JSON only inside
    that head (written once, the same object as in the rows), and the writer cuts it out only
    if it asks for it (Patients, RelatedPersons, the upsert's rows): ~18 MB less to pickle,
    send and unpickle for 100 Synthea files."""
    groups: dict[str | None, list[bytes]] = {}
    facts: dict[str | None, list[bytes]] = {}
    keys: list[bytes] = []
    dumps = orjson.dumps
    for res in resources:
        start, fact = binary_head(res, parsed=parsed)
        json = res.json
        head = b"".join((start, _LENGTH(len(json) + 1), _JSONB_VERSION, json))
        res.copy_text = (head, len(head) - len(json))
        ref = res.patient_ref
        group = groups.get(ref)
        if group is None:
            groups[ref] = [head]
        else:
            group.append(head)
        if fact is None:
            keys.append(b"")
            continue
        kept = facts.get(ref)
        if kept is None:
            facts[ref] = [fact]
        else:
            kept.append(fact)
        keys.append(dumps((res.resource_type, res.fhir_id)))
    return UnitRows(tuple(groups.items()), tuple(facts.items()), b"\n".join(keys))


def _left(
    unit: Sequence[IndexedResource], rows: UnitRows, dropped: set[int]
) -> tuple[list[tuple[str | None, list[bytes]]], list[tuple[str | None, list[bytes]]], list[bytes]]:
    """The unit's groups, fact groups and key lines without the resources at ``dropped``.

    Most units of an import drop only the few shared resources (Organizations,
    Practitioners) an earlier batch wrote: they have no patient and no fact, so only their
    group is cut (their places counted in C) and the facts and keys are left whole; this runs
    in the writer, the import's chain, for two units of three."""
    refs = list(map(_REF, unit))
    with_fact = [i for i in dropped if has_fact(unit[i].resource_type, refs[i])]
    if with_fact:
        fact_refs = [
            ref if has_fact(res.resource_type, ref) else _NO_FACT
            for res, ref in zip(unit, refs, strict=True)
        ]
        facts = _without(rows.facts, _places(fact_refs, with_fact))
        keys = [line for i, line in enumerate(rows.keys.split(b"\n")) if i not in dropped]
    else:  # the dropped lines are empty keys, left out with the others
        facts, keys = list(rows.facts), [rows.keys]
    return _without(rows.groups, _places(refs, dropped)), facts, keys


_NO_FACT = object()
_REF = attrgetter("patient_ref")


def _places(refs: Sequence[object], at: Collection[int]) -> dict[Any, set[int]]:
    """For the positions ``at``, their places within their group (the positions before with
    the same reference): counted over a copied prefix for a few, in one pass for many."""
    places: dict[Any, set[int]] = {}
    if len(at) <= 32:
        for i in at:
            ref = refs[i]
            places.setdefault(ref, set()).add(refs[:i].count(ref))
        return places
    seen: dict[Any, int] = {}
    for i, ref in enumerate(refs):
        place = seen.get(ref, 0)
        seen[ref] = place + 1
        if i in at:
            places.setdefault(ref, set()).add(place)
    return places


def _without(
    groups: Sequence[tuple[str | None, list[bytes]]], gone: dict[Any, set[int]]
) -> list[tuple[str | None, list[bytes]]]:
    """``groups`` without the lines at each group's ``gone`` places."""
    return [
        (
            ref,
            [line for j, line in enumerate(lines) if j not in gone[ref]] if ref in gone else lines,
        )
        for ref, lines in groups
    ]


def _tailed(
    groups: Sequence[tuple[str | None, list[bytes]]],
    owner: Callable[[str | None], bytes],
    before: bytes = b"",
) -> list[bytes]:
    """Each group's lines, each followed by its tail: ``before`` and its reference's owner."""
    parts: list[bytes] = []
    for ref, lines in groups:
        if lines:
            end = before + owner(ref)
            parts += (end.join(lines), end)
    return parts


def copy_units(
    cursor: Any,
    units: Sequence[tuple[Sequence[IndexedResource], UnitRows, Stamp, set[int]]],
    owners: Mapping[str | None, str | None],
) -> None:
    """COPY the units' rows (less those at each unit's dropped positions) into
    ``fhir_resources``, their facts' rows into ``resource_facts``, and project the facts'
    JSON. ``owners``: each patient reference's careloop patient id (None: not known yet).
    The caller holds a savepoint."""
    keys: list[bytes] = []
    fact_parts: list[bytes] = []
    owned: dict[str | None, bytes] = {}

    def owner(ref: str | None) -> bytes:
        value = owned.get(ref)
        if value is None:
            value = owned[ref] = text_value(owners.get(ref) if ref else None)
        return value

    statement = f"COPY fhir_resources ({RESOURCE_COLUMNS}) FROM STDIN (FORMAT binary)"
    with cursor.copy(statement) as copy:
        copy.write(SIGNATURE)
        for unit, rows, (source, now), dropped in units:
            if dropped:
                groups, facts, lines = _left(unit, rows, dropped)
                keys += lines
            else:
                groups, facts = list(rows.groups), list(rows.facts)
                keys.append(rows.keys)
            middle = text_value(source[:500]) + time_value(now)
            copy.write(b"".join(_tailed(groups, owner, middle)))
            fact_parts += _tailed(facts, owner)
        copy.write(TRAILER)
    if fact_parts:
        statement = f"COPY resource_facts ({FACT_COLUMNS}) FROM STDIN (FORMAT binary)"
        with cursor.copy(statement) as copy:
            copy.write(b"".join((SIGNATURE, *fact_parts, TRAILER)))
    joined = b",".join(filter(None, b"\n".join(keys).split(b"\n")))
    if joined:
        cursor.execute(PROJECT_BODIES, {"keys": (b"[" + joined + b"]").decode(), **FACT_ARGS})
