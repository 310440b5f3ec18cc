"""Edges of the space-joined codes column (review of the resource_codes drop): a code with a
space is one coding, a very long code is stored and found, an import with one is not refused."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, select

from careloop.fhir.params import parse_query
from careloop.fhir.search import search
from careloop.models import FhirResource
from careloop.records.code_filter import carries_token, column_text
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.records.test_code_filter import _found, _store


def test_token_first_word_of_spaced_code_is_not_a_match(rt: Runtime) -> None:
    # stored coding (loinc, "x y"); searching (loinc, "x") must not find it
    _store(rt, [[("http://loinc.org", "x y")], [("http://loinc.org", "x")]])
    d = rt.engine.dialect.name
    assert _found(rt, carries_token(d, [("http://loinc.org", "x")])) == {1}


def test_token_second_word_looking_like_system_code(rt: Runtime) -> None:
    # stored coding (s, "a urn:x|b"); searching (urn:x, "b") must not find it
    _store(rt, [[("http://loinc.org", "a urn:x|b")]])
    d = rt.engine.dialect.name
    assert _found(rt, carries_token(d, [("urn:x", "b")])) == set()


def test_search_total_with_spaced_code(rt: Runtime) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with rt.transaction() as session:
        for fid, code in (("a", "x"), ("b", "x y")):
            session.add(
                FhirResource(
                    resource_type="Observation",
                    fhir_id=fid,
                    patient_id=None,
                    codes=column_text([("http://loinc.org", code)]),
                    imported_at=now,
                    resource={
                        "resourceType": "Observation",
                        "id": fid,
                        "status": "final",
                        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    },
                )
            )
    with rt.transaction() as session:
        q = parse_query("Observation", [("code", "http://loinc.org|x"), ("_count", "1")])
        found = search(session, q)
        assert [m.resource["id"] for m in found.matches] == ["a"]
        assert found.total == 1


def test_long_code_is_stored_and_found(rt: Runtime) -> None:
    code = secrets.token_hex(2500)  # 5000 chars, incompressible
    with rt.transaction() as session:
        session.execute(delete(FhirResource))
        session.add(
            FhirResource(
                resource_type="Observation",
                fhir_id="o0",
                patient_id=None,
                codes=column_text([("http://loinc.org", code)]),
                resource={"resourceType": "Observation", "id": "o0"},
                imported_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    assert _found(rt, carries_token(rt.engine.dialect.name, [("http://loinc.org", code)])) == {0}


def test_import_with_long_code(rt: Runtime, tmp_path: Path) -> None:
    code = secrets.token_hex(1500)  # 3000 chars
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p1",
                    "name": [{"family": "X", "given": ["Y"]}],
                    "birthDate": "1970-01-01",
                    "gender": "female",
                }
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "o1",
                    "status": "final",
                    "subject": {"reference": "Patient/p1"},
                    "effectiveDateTime": "2026-01-01T00:00:00Z",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                }
            },
        ],
    }
    f = tmp_path / "b.json"
    f.write_text(json.dumps(bundle))
    try:
        r = import_paths(
            rt.sessions,
            engine=rt.engine,
            paths=[f],
            clock=rt.clock,
            principal=CLI_OPERATOR,
            default_timezone="UTC",
            workers=0,
        )
        print("RESULT", r)
    except Exception as exc:
        print("RAISED", type(exc).__name__, str(exc)[:300])
    with rt.transaction() as s:
        print("STORED", s.scalar(select(func.count()).select_from(FhirResource)))
