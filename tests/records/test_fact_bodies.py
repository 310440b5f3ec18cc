"""A fact's JSON lives in ``resource_fact_bodies`` (migration 0640): the rows a night reads for
every resource of its patients stay narrow, the JSON of the few it ships is fetched by key.
Import writes both, deletion removes both, and the migration moves stored facts both ways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, inspect, select, text
from typer.testing import CliRunner

from careloop.cli import app
from careloop.db import downgrade, make_engine, migrate
from careloop.models import FhirResource, Patient, ResourceFact, ResourceFactBody
from careloop.runtime import Runtime

runner = CliRunner()
NOTE = "a note no measure reads"


def _observation(number: int, patient: str, *, value: float = 170.0) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{patient}-{number}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2024-03-01T10:00:00+00:00",
        "valueQuantity": {"value": value + number, "unit": "cm"},
        "note": [{"text": NOTE}],
    }


def _import(url: str, tmp_path: Path, *, value: float = 170.0, name: str = "b.json") -> None:
    entries: list[dict[str, Any]] = []
    for patient in ("body-a", "body-b"):
        entries.append({"resource": {"resourceType": "Patient", "id": patient, "gender": "male"}})
        entries += [{"resource": _observation(n, patient, value=value)} for n in range(3)]
    path = tmp_path / name
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    result = runner.invoke(app, ["import", str(path), "--database", url, "--json"])
    assert result.exit_code == 0, result.output


def _bodies(rt: Runtime) -> dict[str, dict[str, Any]]:
    with rt.transaction() as session:
        rows = session.execute(select(ResourceFactBody.fhir_id, ResourceFactBody.fact))
        return dict(rows.tuples().all())


def _facts(rt: Runtime) -> set[str]:
    with rt.transaction() as session:
        return set(session.scalars(select(ResourceFact.fhir_id)))


def test_import_writes_each_fact_s_json_as_its_body_and_the_row_without_it(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    _import(database_url, tmp_path)
    bodies = _bodies(rt)
    assert set(bodies) == _facts(rt) == {
        "body-a", "body-b", *(f"obs-body-{p}-{n}" for p in "ab" for n in range(3))
    }  # fmt: skip
    assert bodies["obs-body-a-2"]["valueQuantity"] == {"value": 172.0, "unit": "cm"}
    assert "note" not in bodies["obs-body-a-2"]  # the fact's rule, unchanged
    assert "fact" not in {c["name"] for c in inspect(rt.engine).get_columns("resource_facts")}


def test_importing_again_replaces_the_bodies(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    _import(database_url, tmp_path)
    _import(database_url, tmp_path, value=180.0, name="again.json")  # the upsert path
    assert _bodies(rt)["obs-body-b-1"]["valueQuantity"] == {"value": 181.0, "unit": "cm"}
    assert len(_bodies(rt)) == 8


def test_deleting_resources_or_their_patient_deletes_their_bodies(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    _import(database_url, tmp_path)
    with rt.transaction() as session:
        session.execute(delete(FhirResource).where(FhirResource.fhir_id == "obs-body-a-1"))
    assert "obs-body-a-1" not in _bodies(rt)
    with rt.transaction() as session:
        session.execute(delete(Patient).where(Patient.id == "body-b"))  # cascades to resources
    assert set(_bodies(rt)) == {"body-a", "obs-body-a-0", "obs-body-a-2"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_truncating_the_resources_empties_the_bodies(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    _import(database_url, tmp_path)
    with rt.transaction() as session:
        session.execute(text("TRUNCATE fhir_resources"))
    assert _bodies(rt) == {}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_rows_a_night_reads_are_narrow(database_url: str, rt: Runtime, tmp_path: Path) -> None:
    """~1,100 bytes a row with the JSON in it (7 rows a page), so a night read ~34 pages a
    patient; a tenth of that without."""
    _import(database_url, tmp_path)
    with rt.transaction() as session:
        widest = session.scalar(text("SELECT max(pg_column_size(f.*)) FROM resource_facts AS f"))
    assert widest is not None
    assert widest < 200


FACT = {"resourceType": "Observation", "id": "moved", "status": "final", "note": "kept as is"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_at_0630(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'moved.db'}"
    else:
        url = request.getfixturevalue("empty_postgresql_url")
    engine = make_engine(url)
    migrate(engine, "0630")
    yield engine
    engine.dispose()


def test_the_migration_moves_stored_facts_to_their_bodies_and_back(
    engine_at_0630: Engine,
) -> None:
    engine = engine_at_0630
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO resource_facts (resource_type, fhir_id, patient_id, codes, fact) "
                "VALUES ('Observation', 'moved', NULL, 'x', :fact)"
            ),
            {"fact": json.dumps(FACT)},
        )
    migrate(engine)
    with engine.begin() as connection:
        moved = connection.execute(text("SELECT fact FROM resource_fact_bodies")).scalar_one()
        kept = connection.execute(text("SELECT codes FROM resource_facts")).scalar_one()
    assert (json.loads(moved) if isinstance(moved, str) else moved) == FACT
    assert kept == "x"
    downgrade(engine, "0630")
    with engine.begin() as connection:
        back = connection.execute(text("SELECT fact FROM resource_facts")).scalar_one()
    assert (json.loads(back) if isinstance(back, str) else back) == FACT
    assert "resource_fact_bodies" not in inspect(engine).get_table_names()
