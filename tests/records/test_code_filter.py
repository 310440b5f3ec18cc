"""Look-ups by code read ``fhir_resources.codes``: the same answers a row per coding gave.

Each answer is compared with the rule spelled out in Python over the codings themselves,
on both databases, for codings drawn to collide: shared systems, codes that are prefixes or
suffixes of others, a ``|``, a ``%`` or an ``_`` inside a code, a code with a space, and
codes differing only in case.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from careloop.models import FhirResource
from careloop.records.code_filter import carries_code, carries_token, may_carry_code
from careloop.runtime import Runtime

SYSTEMS = ["http://loinc.org", "http://snomed.info/sct", "urn:oid:1.2"]
CODES = ["8302-2", "8302", "302-2", "a|b", "b", "50%", "5_0", "x y", "y", "Ab", "aB"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)

codings = st.lists(st.tuples(st.sampled_from(SYSTEMS), st.sampled_from(CODES)), max_size=3)


def _store(rt: Runtime, resources: list[list[tuple[str, str]]]) -> None:
    with rt.transaction() as session:
        session.execute(delete(FhirResource))
        for n, pairs in enumerate(resources):
            session.add(
                FhirResource(
                    resource_type="Observation", fhir_id=f"o{n}", patient_id=None,
                    codes=" ".join(f"{s}|{c}" for s, c in dict.fromkeys(pairs)),
                    resource={"resourceType": "Observation", "id": f"o{n}"},
                    imported_at=NOW,
                )
            )  # fmt: skip


def _found(rt: Runtime, clause: object) -> set[int]:
    with rt.transaction() as session:
        ids = session.scalars(select(FhirResource.fhir_id).where(clause))  # type: ignore[arg-type]
        return {int(fid[1:]) for fid in ids}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(codings, min_size=1, max_size=8),
    st.lists(st.tuples(st.sampled_from(SYSTEMS), st.sampled_from(CODES)), min_size=1, max_size=3),
)
def test_a_token_search_finds_exactly_the_resources_with_that_coding(
    rt: Runtime, resources: list[list[tuple[str, str]]], wanted: list[tuple[str, str]]
) -> None:
    _store(rt, resources)
    dialect = rt.engine.dialect.name
    expected = {n for n, pairs in enumerate(resources) if set(pairs) & set(wanted)}
    assert _found(rt, carries_token(dialect, wanted)) == expected


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(codings, min_size=1, max_size=8),
    st.lists(st.sampled_from(CODES), min_size=1, max_size=3),
)
def test_a_bare_code_filter_keeps_every_resource_with_that_code(
    rt: Runtime, resources: list[list[tuple[str, str]]], wanted: list[str]
) -> None:
    """A superset at least (the callers match systems); exact on PostgreSQL when no stored
    code's first word is a wanted code (none here: "x" is not one of them)."""
    _store(rt, resources)
    dialect = rt.engine.dialect.name
    expected = {n for n, pairs in enumerate(resources) if {c for _, c in pairs} & set(wanted)}
    for clause in (carries_code(dialect, wanted), may_carry_code(wanted)):
        assert _found(rt, clause) >= expected
    if dialect == "postgresql":
        assert _found(rt, carries_code(dialect, wanted)) == expected


def test_no_wanted_code_keeps_nothing(rt: Runtime) -> None:
    _store(rt, [[("http://loinc.org", "8302-2")]])
    assert _found(rt, carries_code(rt.engine.dialect.name, [])) == set()


def test_a_code_with_a_space_is_not_taken_for_two_codes(rt: Runtime) -> None:
    _store(rt, [[("http://loinc.org", "x y")], [("http://loinc.org", "y")]])
    dialect = rt.engine.dialect.name
    assert _found(rt, carries_token(dialect, [("http://loinc.org", "y")])) == {1}
    assert _found(rt, carries_token(dialect, [("http://loinc.org", "x y")])) == {0}
    assert _found(rt, carries_code(dialect, ["x y"])) == {0}
    if dialect == "postgresql":
        assert _found(rt, carries_code(dialect, ["y"])) == {1}
