"""PostgreSQL: a unit's ``fhir_resources`` COPY lines, grouped by the parser process.

The writer is the import's chain with the server: every CPU second it spends between
statements is a second of wall time (the parsers finish early and their core then idles).
Joining each resource's COPY line in the writer (its JSON escaped, its source, import time and
owner appended) cost it a Python step per resource. Here the parser groups a unit's lines by
patient reference, each line's head made (its columns up to and including the JSON): all lines
of a group end in the same tail (the unit's source and import time, the reference's owner),
so the writer joins a group with one ``tail.join(heads)``. The lines it must not copy (stored
already, or superseded by a later unit of its batch) are left out of their group first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from careloop.records.extract import IndexedResource
from careloop.records.store_copy import (
    FACT_ARGS,
    NULL,
    PROJECT_FACTS,
    RESOURCE_COLUMNS,
    CopyText,
    Stamp,
    copy_parts,
    text,
)


class UnitRows:
    """A unit's COPY line heads grouped by patient reference (groups in order of first
    appearance, lines in the unit's order) and its facts' keys and typed columns (one JSON
    array a line, in the unit's order, an empty line for a resource with no fact)."""

    __slots__ = ("facts", "groups")

    def __init__(self, groups: tuple[tuple[str | None, list[bytes]], ...], facts: bytes) -> None:
        self.groups = groups
        self.facts = facts

    def __reduce__(self) -> tuple[Any, ...]:
        return (UnitRows, (self.groups, self.facts))


def unit_rows(resources: Sequence[IndexedResource], *, parsed: bool = False) -> UnitRows:
    """The unit's line heads by patient reference, and its facts (``parsed``: the resources
    were decoded from JSON text, ``store_copy.copy_parts``).

    Each resource's ``copy_text`` becomes its head and where its JSON starts there: pickled
    with its unit, a resource then carries its JSON only inside that head (written once, the
    same object as in the rows), and the writer unescapes it only if it asks for it (Patients,
    RelatedPersons, the upsert's rows): ~18 MB less to pickle, send and unpickle for 100
    Synthea files."""
    groups: dict[str | None, list[bytes]] = {}
    facts: list[bytes] = []
    dumps = orjson.dumps
    for res in resources:
        made = res.copy_text
        start, fact = (
            (made.resource, made.fact)
            if isinstance(made, CopyText)
            else copy_parts(res, parsed=parsed)
        )
        head = b"".join((start, res.json.replace(b"\\", b"\\\\"), b"\t"))
        res.copy_text = (head, len(start))
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
    """COPY the units' rows (less the lines at each unit's dropped positions) into
    ``fhir_resources`` and project their facts. ``owners``: each patient reference's
    careloop patient id (None: not known yet). The caller holds a savepoint."""
    facts: list[bytes] = []
    with cursor.copy(f"COPY fhir_resources ({RESOURCE_COLUMNS}) FROM STDIN") as copy:
        for unit, rows, (source, now), dropped in units:
            if dropped:
                groups, lines = _left(unit, rows, dropped)
                facts += lines
            else:
                groups = list(rows.groups)
                facts.append(rows.facts)
            middle = text(source[:500]) + b"\t" + now.isoformat().encode() + b"\t"
            parts: list[bytes] = []
            for ref, heads in groups:
                if heads:
                    owner = owners.get(ref) if ref else None
                    tail = middle + (NULL if owner is None else text(owner)) + b"\n"
                    parts += (tail.join(heads), tail)
            copy.write(b"".join(parts))
    keys = b",".join(filter(None, b"\n".join(facts).split(b"\n")))
    if keys:
        cursor.execute(PROJECT_FACTS, {"keys": (b"[" + keys + b"]").decode(), **FACT_ARGS})
