"""A large COPY's owners are checked once (``records.owner_check``); the database still refuses
a resource whose owner is not a record, for every writer, whatever role writes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.models import FhirResource, ResourceFact
from careloop.records.extract import index_resource
from careloop.records.owner_check import ONE_CHECK_ROWS
from careloop.records.store import write_resources
from careloop.runtime import Runtime

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
runner = CliRunner()
MANY = ONE_CHECK_ROWS + 44


def _observation(number: int, patient: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": f"own-{patient}-{number}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2024-03-01T10:00:00+00:00",
        "valueQuantity": {"value": 170 + number, "unit": "cm"},
    }


def _import_patient(url: str, tmp_path: Path, patient: str, observations: int = 0) -> None:
    entries = [{"resource": {"resourceType": "Patient", "id": patient, "gender": "female"}}]
    entries += [{"resource": _observation(n, patient)} for n in range(observations)]
    path = tmp_path / f"{patient}.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    result = runner.invoke(app, ["import", str(path), "--database", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected"] == []


def _write(session: Session, clock: FrozenClock, patient: str, owner: str, count: int) -> None:
    resources = [index_resource(_observation(n, patient)) for n in range(count)]
    write_resources(session, resources, [owner] * count, source="test", now=clock.now())


def _stored(rt: Runtime) -> tuple[int, int]:
    with rt.transaction() as session:
        resources = session.scalar(select(func.count()).select_from(FhirResource))
        facts = session.scalar(select(func.count()).select_from(ResourceFact))
    return resources or 0, facts or 0


def test_an_import_of_many_resources_stores_each_with_its_owner(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    _import_patient(database_url, tmp_path, "own-a", observations=MANY)
    with rt.transaction() as session:
        owners = session.execute(
            select(FhirResource.patient_id, func.count()).group_by(FhirResource.patient_id)
        ).all()
    assert owners == [("own-a", MANY + 1)]


@pytest.mark.parametrize("count", [3, MANY])
def test_a_write_for_an_owner_that_is_not_a_record_is_refused_and_leaves_nothing(
    database_url: str, rt: Runtime, clock: FrozenClock, count: int
) -> None:
    with rt.sessions() as session, pytest.raises(psycopg.errors.ForeignKeyViolation):
        _write(session, clock, "own-gone", "own-gone", count)
    assert _stored(rt) == (0, 0)


def test_after_a_large_write_the_same_transaction_still_has_its_owners_checked(
    database_url: str, rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _import_patient(database_url, tmp_path, "own-b")
    with rt.sessions() as session:
        _write(session, clock, "own-b", "own-b", MANY)
        assert session.scalar(text("SHOW session_replication_role")) == "origin"
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            _write(session, clock, "own-nobody", "own-nobody", 1)


def test_a_role_that_may_not_skip_the_key_checks_still_writes_and_is_still_refused(
    database_url: str, rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _import_patient(database_url, tmp_path, "own-c")
    role = f"careloop_test_writer_{uuid.uuid4().hex[:8]}"
    with rt.sessions() as session:  # the role exists only inside this transaction
        session.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        grant = "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO"
        session.execute(text(f"{grant} {role}"))
        session.execute(text(f"SET LOCAL ROLE {role}"))
        _write(session, clock, "own-c", "own-c", MANY)
        owned = select(func.count()).where(FhirResource.patient_id == "own-c")
        assert session.scalar(owned) == MANY + 1
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            _write(session, clock, "own-nobody", "own-nobody", MANY)
        session.rollback()


def test_no_trigger_of_the_resource_tables_fires_on_insert(database_url: str, rt: Runtime) -> None:
    """Replica mode skips every trigger of a checked COPY: a trigger added on INSERT to these
    tables would be skipped by the import, so one must not be added without changing that."""
    with rt.transaction() as session:
        names = session.scalars(
            text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND (tgtype & 4) <> 0 "
                "AND tgrelid IN (SELECT oid FROM pg_class WHERE relname IN "
                "('fhir_resources', 'resource_facts', 'resource_fact_bodies'))"
            )
        ).all()
    assert names == []


def test_a_large_resource_is_stored_compressed_with_lz4(
    database_url: str, rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _import_patient(database_url, tmp_path, "own-d")
    note = " ".join(f"reading {n} taken at home" for n in range(200))
    resource = {**_observation(0, "own-d"), "code": {"text": note}}
    with rt.transaction() as session:
        write_resources(session, [index_resource(resource)], ["own-d"], source="t", now=clock.now())
    with rt.transaction() as session:
        stored = session.execute(
            text(
                "SELECT pg_column_compression(resource), resource -> 'code' ->> 'text' "
                "FROM fhir_resources WHERE fhir_id = 'own-own-d-0'"
            )
        ).one()
    assert tuple(stored) == ("lz4", note)
