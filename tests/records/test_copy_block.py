"""A unit's COPY rows joined by its parser (``records.copy_block``, binary format) hold the
values of the text lines the writer would have made one by one: same rows, same facts,
whatever lines are dropped and whoever owns them."""

from __future__ import annotations

import pickle
import struct
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careloop.records.copy_block import SIGNATURE, TRAILER, copy_units, unit_rows
from careloop.records.extract import IndexedResource, index_resource
from careloop.records.fact_columns import COLUMNS_VERSION
from careloop.records.importer import PreparedUnit
from careloop.records.store_copy import copy_new, copy_text
from tests.records.conftest import synthea_dir

NOTE = 'tab\there, back\\slash, "quotes", new\nline, \\N, \\t, ünïcödé ✓'
AWKWARD: list[dict[str, Any]] = [
    {"resourceType": "Basic", "id": "odd\tid\\with\nbreaks", "code": {"text": NOTE}},
    {
        "resourceType": "Observation",
        "id": "obs-awkward",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": NOTE}]},
        "subject": {"reference": "Patient/p\\1"},
        "effectiveDateTime": "2024-03-01T10:00:00+01:00",
        "valueQuantity": {"value": 172.5, "unit": "cm"},
    },
]


def _resources() -> list[IndexedResource]:
    bundle = orjson.loads(sorted(synthea_dir().glob("*.json"))[0].read_bytes())
    chosen = [entry["resource"] for entry in bundle["entry"][:60]] + AWKWARD
    return [index_resource(resource) for resource in chosen]


RESOURCES = _resources()


class _Copy:
    def __init__(self, sink: list[bytes]) -> None:
        self.sink = sink

    def __enter__(self) -> _Copy:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def write(self, data: bytes) -> None:
        self.sink.append(bytes(data))


class _Cursor:
    """Keeps what each COPY sent (by table) and the facts' keys the projection was given."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.fact_rows: list[bytes] = []
        self.facts: list[Any] = []

    def copy(self, statement: str) -> _Copy:
        return _Copy(self.fact_rows if "resource_facts" in statement else self.sent)

    def execute(self, _statement: str, params: dict[str, Any]) -> None:
        self.facts += orjson.loads(params["keys"])

    def lines(self) -> list[tuple[Any, ...]]:
        """The rows sent, as values, whichever COPY format they came in."""
        data = b"".join(self.sent)
        rows = _binary_rows(data) if data.startswith(SIGNATURE) else _text_rows(data)
        return sorted(rows, key=repr)

    def fact_lines(self) -> list[tuple[Any, ...]]:
        """The facts' narrow rows as values: those COPY'd (binary), or else those the
        projection makes of its keys and the rows copied (``store_copy.PROJECT_FACTS``)."""
        if self.fact_rows:
            return sorted(_binary_facts(b"".join(self.fact_rows)), key=repr)
        rows = {(row[0], row[1]): row for row in self.lines()}
        made = []
        for rtype, fid, bare, pairs, value, unit, category in self.facts:
            row = rows[(rtype, fid)]
            made.append((rtype, fid, bare, pairs, row[3], row[4], row[5], value, unit, category,
                         COLUMNS_VERSION, row[11]))  # fmt: skip
        return sorted(made, key=repr)


_FACT_TEXTS = {0, 1, 2, 3, 4, 8, 9, 11}


def _binary_facts(data: bytes) -> list[tuple[Any, ...]]:
    assert data.startswith(SIGNATURE)
    assert data.endswith(TRAILER)
    rows, at, end = [], len(SIGNATURE), len(data) - len(TRAILER)
    while at < end:
        (count,) = struct.unpack_from("!h", data, at)
        at += 2
        values: list[Any] = []
        for _ in range(count):
            (size,) = struct.unpack_from("!i", data, at)
            at += 4
            values.append(None if size < 0 else data[at : at + size])
            at += max(size, 0)
        typed: list[Any] = [v.decode() if i in _FACT_TEXTS and v is not None else v
                            for i, v in enumerate(values)]  # fmt: skip
        for i in (5, 6):
            typed[i] = None if values[i] is None else _instant(values[i])
        typed[7] = None if values[7] is None else struct.unpack("!d", values[7])[0]
        typed[10] = struct.unpack("!i", values[10])[0]
        rows.append(tuple(typed))
    assert at == end
    return rows


_UNESCAPE = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def _text_value(field: str) -> str | None:
    if field == "\\N":
        return None
    out, chars = [], iter(field)
    for char in chars:
        out.append(_UNESCAPE[next(chars)] if char == "\\" else char)
    return "".join(out)


def _typed(values: list[Any], times: Any, json: Any) -> tuple[Any, ...]:
    """A row's values by column: times as instants, the flag as a bool, the JSON decoded."""
    typed = list(values)
    for at in (4, 5, 10):
        typed[at] = None if typed[at] is None else times(typed[at])
    typed[7] = typed[7] in ("t", b"\x01")
    typed[8] = orjson.loads(json(typed[8]))
    return tuple(typed)


def _text_rows(data: bytes) -> list[tuple[Any, ...]]:
    return [
        _typed(
            [_text_value(f) for f in line.split("\t")],
            datetime.fromisoformat,
            lambda text: text,
        )
        for line in data.decode().splitlines()
    ]


def _binary_rows(data: bytes) -> list[tuple[Any, ...]]:
    assert data.endswith(TRAILER)
    rows, at, end = [], len(SIGNATURE), len(data) - len(TRAILER)
    while at < end:
        (count,) = struct.unpack_from("!h", data, at)
        at += 2
        values: list[Any] = []
        for _ in range(count):
            (size,) = struct.unpack_from("!i", data, at)
            at += 4
            values.append(None if size < 0 else data[at : at + size])
            at += max(size, 0)
        strings = [v.decode() if i not in (4, 5, 7, 8, 10) and v is not None else v
                   for i, v in enumerate(values)]  # fmt: skip
        rows.append(_typed(strings, _instant, lambda raw: raw[1:]))  # jsonb: version 1
    assert at == end
    return rows


def _instant(raw: bytes) -> datetime:
    (micros,) = struct.unpack("!q", raw)
    return datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _fresh(res: IndexedResource) -> IndexedResource:
    """The resource as the writer receives it from a parser (its lines in its unit's rows)."""
    copied = index_resource(res.resource)
    copied.copy_text = None
    return copied


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(0, len(RESOURCES)), max_size=3),
    dropped=st.sets(st.integers(0, len(RESOURCES) - 1)),
    owned=st.booleans(),
)
def test_unit_rows_make_the_lines_and_facts_of_the_writer(
    cuts: list[int], dropped: set[int], owned: bool
) -> None:
    bounds = [0, *sorted(cuts), len(RESOURCES)]
    units = [RESOURCES[a:b] for a, b in pairwise(bounds) if b > a]
    refs = {r.patient_ref for r in RESOURCES if r.patient_ref}
    owners = {ref: f"owner-of-{ref}" if owned else None for ref in refs}
    block, one_by_one = _Cursor(), _Cursor()
    plan, kept, kept_owners, stamps = [], [], [], []
    start = 0
    for n, unit in enumerate(units):
        stamp = (f"file\t{n}.json", datetime(2026, 12, 6, 20, n, tzinfo=UTC))
        rows = unit_rows(unit)
        mine = {i - start for i in dropped if start <= i < start + len(unit)}
        plan.append(([_fresh(r) for r in unit], rows, stamp, mine))
        for i, res in enumerate(unit):
            if i not in mine:
                kept.append(res)
                kept_owners.append(owners.get(res.patient_ref) if res.patient_ref else None)
                stamps.append(stamp)
        start += len(unit)
    copy_units(block, plan, owners)
    for res in kept:
        res.copy_text = copy_text(res)
    copy_new(one_by_one, kept, kept_owners, stamps)
    assert block.sent[0].startswith(SIGNATURE)
    assert block.lines() == one_by_one.lines()
    assert block.fact_lines() == one_by_one.fact_lines()
    assert sorted(map(repr, block.facts)) == sorted(repr(fact[:2]) for fact in one_by_one.facts)


def test_a_unit_with_nothing_left_sends_no_line() -> None:
    cursor = _Cursor()
    unit = RESOURCES[:5]
    stamp = ("a.json", datetime(2026, 12, 6, tzinfo=UTC))
    copy_units(cursor, [(unit, unit_rows(unit), stamp, set(range(5)))], {})
    assert cursor.lines() == []
    assert cursor.fact_rows == []
    assert cursor.facts == []


def test_a_unit_sent_to_the_writer_carries_each_json_once_and_gives_it_back_whole() -> None:
    """Pickled with its unit (parser to writer), a resource keeps its JSON only inside its
    COPY line; the writer still reads the same resource (backslashes, tabs, newlines, ü)."""
    unit = PreparedUnit(file="a.json", resources=[index_resource(r.resource) for r in RESOURCES])
    unit.rows = unit_rows(unit.resources)
    sent = pickle.dumps(unit, protocol=pickle.HIGHEST_PROTOCOL)
    json_bytes = sum(len(res.json) for res in unit.resources)
    rows_alone = len(pickle.dumps(unit.rows, protocol=pickle.HIGHEST_PROTOCOL))
    assert len(sent) - rows_alone < json_bytes / 4
    received = pickle.loads(sent)
    assert [res.resource for res in received.resources] == [res.resource for res in RESOURCES]
    assert [res.json for res in received.resources] == [res.json for res in RESOURCES]
