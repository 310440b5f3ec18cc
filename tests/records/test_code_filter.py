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

from careloop.fhir.params import parse_query
from careloop.fhir.search import search
from careloop.fhirdata.codings import codings
from careloop.models import FhirResource
from careloop.records.code_filter import carries_code, carries_token, column_text, may_carry_code
from careloop.records.extract import resource_codes
from careloop.records.importer import import_paths
from careloop.records.service import load_patient_resources
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.records.conftest import synthea_dir

SYSTEMS = ["http://loinc.org", "http://snomed.info/sct", "urn:oid:1.2"]
CODES = ["8302-2", "8302", "302-2", "a|b", "b", "50%", "5_0", "x y", "y", "Ab", "aB"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)

coding_lists = st.lists(st.tuples(st.sampled_from(SYSTEMS), st.sampled_from(CODES)), max_size=3)


def _store(rt: Runtime, resources: list[list[tuple[str, str]]]) -> None:
    with rt.transaction() as session:
        session.execute(delete(FhirResource))
        for n, pairs in enumerate(resources):
            session.add(
                FhirResource(
                    resource_type="Observation", fhir_id=f"o{n}", patient_id=None,
                    codes=column_text(pairs),
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
    st.lists(coding_lists, min_size=1, max_size=8),
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
    st.lists(coding_lists, min_size=1, max_size=8),
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


def test_on_synthea_patients_search_and_code_filter_answer_what_the_codings_say(
    rt: Runtime,
) -> None:
    """Five Synthea patients imported; for every Observation coding they hold, the FHIR
    search by ``code=system|code`` (in SQL and the general way) returns exactly the
    Observations whose ``code`` has it (component codes are indexed too, as in
    ``resource_codes``, and re-checked away), and the records' code filter keeps every
    resource carrying a wanted code (``extract.resource_codes``, what ``resource_codes``
    held)."""
    files = sorted(synthea_dir().glob("*.json"))[:5]
    import_paths(
        rt.sessions, engine=rt.engine, paths=files, clock=rt.clock, principal=CLI_OPERATOR,
        default_timezone="America/New_York", workers=0,
    )  # fmt: skip
    with rt.transaction() as session:
        stored = [
            (rtype, fid, pid, resource_codes(resource), set(codings(resource.get("code"))))
            for rtype, fid, pid, resource in session.execute(
                select(
                    FhirResource.resource_type, FhirResource.fhir_id,
                    FhirResource.patient_id, FhirResource.resource,
                ).where(FhirResource.supported.is_(True))
            )
        ]  # fmt: skip
        observed = {
            pair for rtype, _, _, pairs, _ in stored if rtype == "Observation" for pair in pairs
        }
        assert len(observed) > 20
        for system, code in sorted(observed)[::3]:
            expected = {
                fid for rtype, fid, _, _, own in stored
                if rtype == "Observation" and (system, code) in own
            }  # fmt: skip
            query = parse_query("Observation", [("code", f"{system}|{code}"), ("_count", "1000")])
            for in_sql in (True, False):
                found = search(session, query, in_sql=in_sql)
                assert {m.resource["id"] for m in found.matches} == expected, (code, in_sql)
                assert found.total == len(expected)
        wanted = sorted({code for *_, pairs, _ in stored for _, code in pairs})[::7]
        patients = sorted({pid for _, _, pid, *_ in stored if pid})
        loaded = {
            resource["id"]
            for _, resources in load_patient_resources(
                session, patient_ids=patients, only_codes=wanted, always_types=()
            )
            for resource in resources
        }
        carrying = {
            fid for _, fid, pid, pairs, _ in stored if pid and {c for _, c in pairs} & set(wanted)
        }
        assert carrying
        assert carrying <= loaded
        if rt.engine.dialect.name == "postgresql":  # exact there (no code has a space)
            assert loaded & {fid for _, fid, *_ in stored} == carrying
