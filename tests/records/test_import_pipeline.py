"""Batches written two at a time (PostgreSQL, ``records.import_pipeline``) leave what writing
them one after the other leaves: the later file's version of a shared resource, a bad file
reported with nothing of it stored, patients linked against the records written before them.
Every test runs on both databases (SQLite writes one batch after the other) with one file a
batch, so consecutive files are in flight together on PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from careloop.models import FhirResource
from careloop.records import importer, service
from careloop.records.import_write import BatchWriter
from careloop.records.importer import ImportSummary, import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR


@pytest.fixture(autouse=True)
def _one_file_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "BATCH_UNITS", 1)


def _bundle(folder: Path, name: str, *resources: dict[str, Any]) -> None:
    entries = [{"resource": resource} for resource in resources]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    (folder / f"{name}.json").write_text(json.dumps(bundle))


def _patient(fhir_id: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": fhir_id, **fields}


def _organization(name: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": "clinic", "name": name}


def _reading(fhir_id: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": fhir_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2024-03-01T10:00:00Z",
    }


def _import(rt: Runtime, folder: Path) -> ImportSummary:
    return import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[folder],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )


def _stored(rt: Runtime, rtype: str, fhir_id: str) -> FhirResource:
    with rt.transaction() as session:
        row = session.scalars(
            select(FhirResource).where(
                FhirResource.resource_type == rtype, FhirResource.fhir_id == fhir_id
            )
        ).one()
        session.expunge(row)
        return row


@pytest.fixture
def overlapped(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """On PostgreSQL the first batch starts writing only once the second has begun, so the
    two are in flight together whatever the timing. Returns, per write, whether it was
    overlapped with an uncommitted batch."""
    seen: list[bool] = []
    if rt.engine.dialect.name != "postgresql":
        return seen
    second_began = threading.Event()
    original = BatchWriter.write_in

    def write_in(self: BatchWriter, session: Any, units: Any, overlap: Any) -> Any:
        seen.append(bool(overlap and overlap.pending))
        if len(seen) == 1:
            second_began.wait(timeout=10)
        elif len(seen) == 2:
            second_began.set()
        return original(self, session, units, overlap)

    monkeypatch.setattr(BatchWriter, "write_in", write_in)
    return seen


def test_a_resource_in_several_files_ends_as_the_last_file_has_it(
    rt: Runtime, tmp_path: Path, overlapped: list[bool]
) -> None:
    _bundle(tmp_path, "a", _patient("pa"), _organization("first"), _reading("oa", "pa"))
    _bundle(tmp_path, "b", _patient("pb"), _organization("second"), _reading("ob", "pb"))
    _bundle(tmp_path, "c", _reading("oc", "pa"), _organization("third"))

    summary = _import(rt, tmp_path)

    assert summary.rejected == []
    assert dict(summary.resources) == {"Patient": 2, "Organization": 3, "Observation": 3}
    assert _stored(rt, "Organization", "clinic").resource["name"] == "third"
    assert _stored(rt, "Observation", "oc").patient_id == _stored(rt, "Patient", "pa").patient_id
    assert summary.unresolved_patient_references == 0
    assert overlapped[1:2] == ([True] if rt.engine.dialect.name == "postgresql" else [])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_file_the_database_refuses_is_reported_and_the_files_around_it_are_kept(
    rt: Runtime, tmp_path: Path, overlapped: list[bool]
) -> None:
    _bundle(tmp_path, "a", _patient("pa"), _organization("first"))
    # A type longer than its column: PostgreSQL refuses the file, nothing of it is stored
    # (its organization's name included), the files before and after it are.
    _bundle(
        tmp_path, "b", _patient("pb"), _organization("bad"), {"resourceType": "X" * 80, "id": "x"}
    )
    _bundle(tmp_path, "c", _patient("pc"), _organization("third"))
    _bundle(tmp_path, "d", _patient("pd"))

    summary = _import(rt, tmp_path)

    assert [(Path(r.file).name, r.reason) for r in summary.rejected] == [
        ("b.json", "not stored: database error (StringDataRightTruncation)")
    ]
    assert dict(summary.resources) == {"Patient": 3, "Organization": 2}
    with rt.transaction() as session:
        assert service.count_resources(session) == {"Patient": 3, "Organization": 1}
    assert _stored(rt, "Organization", "clinic").resource["name"] == "third"


def test_a_patient_sharing_an_identifier_with_the_file_before_is_linked_to_its_record(
    rt: Runtime, tmp_path: Path, overlapped: list[bool]
) -> None:
    # The second file's patient cannot be linked while the first file's record is not
    # committed: on PostgreSQL it is written again once the first file is.
    same = {
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "999-12-3456"}],
        "birthDate": "1950-04-02",
        "gender": "female",
    }
    _bundle(tmp_path, "a", _patient("pa", **same), _reading("oa", "pa"))
    _bundle(tmp_path, "b", _patient("pb", **same), _reading("ob", "pb"))

    summary = _import(rt, tmp_path)

    assert summary.rejected == []
    assert summary.identity_links == 1
    record = _stored(rt, "Patient", "pa").patient_id
    assert _stored(rt, "Patient", "pb").patient_id == record
    assert _stored(rt, "Observation", "ob").patient_id == record
