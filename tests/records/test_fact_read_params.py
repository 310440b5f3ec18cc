"""The night's fact read sends its code filter and its batch of patients as ready ``text[]``
literals: the same arrays reach PostgreSQL, and the driver dumps no list per batch."""

from __future__ import annotations

import random
from pathlib import Path

import psycopg.types.array
import pytest
from sqlalchemy import text

from careloop.programs.service import load_programs
from careloop.records.fact_queries import text_array
from careloop.records.projection import SharedFacts
from careloop.runtime import Runtime
from tests.records.test_shared_facts import _import_two

AWKWARD = ["", " ", "a b", "NULL", "null", '"', "\\", '\\"', "{x}", "a,b", "é", "}{", "'"]


def _postgres(rt: Runtime) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite gets lists (an expanding IN; the filter runs in Python)")


def test_a_text_array_reaches_postgresql_as_the_list_it_was_made_from(rt: Runtime) -> None:
    _postgres(rt)
    query = text("SELECT CAST(:values AS text[]), :probe = ANY(CAST(:values AS text[]))")
    with rt.sessions() as session:
        for probe in AWKWARD:
            values = [v for v in AWKWARD if v != probe]
            for wanted in (values, [*values, probe]):
                got, hit = session.execute(
                    query, {"values": text_array(wanted), "probe": probe}
                ).one()
                assert got == wanted
                assert hit is (probe in wanted)
        assert session.execute(query, {"values": text_array([]), "probe": ""}).one() == ([], False)


def test_random_lists_of_texts_round_trip(rt: Runtime) -> None:
    """Texts from every plane (no NUL: PostgreSQL stores none), quotes and backslashes dense."""
    _postgres(rt)
    draw = random.Random(18)
    alphabet = '"\\{},  aZ0\u00e9\u4e2d\U0001f600\t\n'
    lists = [
        ["".join(draw.choice(alphabet) for _ in range(draw.randrange(9))) for _ in range(n)]
        for n in (0, 1, 2, 5, 40)
        for _ in range(12)
    ]
    with rt.sessions() as session:
        for values in lists:
            got = session.execute(
                text("SELECT CAST(:values AS text[])"), {"values": text_array(values)}
            ).scalar_one()
            assert got == values


def test_the_fact_read_dumps_no_list_per_batch(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails before: the ~3,400 wanted codes (twice) and the batch's ids were dumped element
    by element in Python on every batch."""
    _postgres(rt)
    _import_two(rt, tmp_path)
    programs = [p for p in load_programs().values() if p.load_codes is not None]
    codes = set().union(*(p.load_codes or () for p in programs))
    always = set().union(*(p.always_types for p in programs))
    with rt.transaction() as session:
        ids = sorted(session.execute(text("SELECT id FROM patients")).scalars())
    assert len(ids) == 2
    dumped: list[object] = []
    for dumper in (psycopg.types.array.ListDumper, psycopg.types.array.ListBinaryDumper):
        original = dumper.dump

        def counting(self: object, obj: object, _original: object = original) -> object:
            dumped.append(obj)
            return _original(self, obj)  # type: ignore[operator]

        monkeypatch.setattr(dumper, "dump", counting)
    facts = SharedFacts(codes=codes, always=always)
    with rt.transaction() as session:
        rows = dict(facts.rows(session, ids, batch=1))
    assert dumped == []
    assert all(rows[pid] for pid in ids)  # the patients' facts were read
