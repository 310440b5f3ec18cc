"""Bulk Data $export (IG v2): kick-off with ``Prefer: respond-async``, 202 and
``Content-Location``, the manifest, NDJSON files; an export of the shared Synthea patients
imported into a fresh careloop reproduces the records."""

from __future__ import annotations

import gzip
import time
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from careloop.clock import FrozenClock
from careloop.records import service
from careloop.records.importer import import_paths
from careloop.runtime import open_runtime
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import Settings
from tests.feedback.loop_payloads import blood_pressure
from tests.fhir.conftest import FhirServer, add_patients, valid
from tests.records.conftest import synthea_dir

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def poll(http: httpx.Client, url: str) -> httpx.Response:
    """Poll the status URL as a client does, until the worker has written the export."""
    deadline = time.monotonic() + 30
    while True:
        status = http.get(url)
        if status.status_code != 202 or time.monotonic() > deadline:
            return status
        assert status.headers["retry-after"].isdigit()
        time.sleep(0.05)


def _export(http: httpx.Client, path: str, **params: str) -> dict:  # type: ignore[type-arg]
    kick_off = http.get(path, params=params, headers=ASYNC)
    assert kick_off.status_code == 202, kick_off.text
    status = poll(http, kick_off.headers["content-location"])
    assert status.status_code == 200
    manifest: dict = status.json()  # type: ignore[type-arg]
    return manifest


def _lines(http: httpx.Client, manifest: dict, rtype: str) -> list[dict]:  # type: ignore[type-arg]
    (output,) = [o for o in manifest["output"] if o["type"] == rtype]
    answer = http.get(output["url"])
    assert answer.headers["content-type"].startswith("application/fhir+ndjson")
    lines = [orjson.loads(line) for line in answer.content.splitlines() if line]
    assert len(lines) == output["count"]
    return lines


def test_an_export_of_the_synthea_patients_imports_into_a_fresh_careloop(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    rt = fhir_server.rt
    first = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[synthea_dir()],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
    )
    with rt.transaction() as session:
        before = service.count_resources(session)
    with fhir_server.http("clinician") as http:
        manifest = _export(http, "/$export")
        folder = tmp_path / "export"
        folder.mkdir()
        for output in manifest["output"]:
            body = http.get(output["url"]).content
            (folder / f"{output['type']}.ndjson.gz").write_bytes(gzip.compress(body))
            valid(orjson.loads(body.splitlines()[0]))
        patients = _lines(http, manifest, "Patient")
    assert len(first.patients) == len(patients) == 100
    assert manifest["requiresAccessToken"] is True
    fresh = open_runtime(settings=Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}"))
    try:
        again = import_paths(
            fresh.sessions,
            engine=fresh.engine,
            paths=[folder],
            clock=fresh.clock,
            principal=CLI_OPERATOR,
            default_timezone="America/New_York",
        )
        with fresh.transaction() as session:
            after = service.count_resources(session)
    finally:
        fresh.close()
    assert again.rejected == []
    assert len(again.patients) == 100
    assert after == before


def test_kick_off_needs_respond_async_and_names_bad_parameters(fhir_server: FhirServer) -> None:
    with fhir_server.http("clinician") as http:
        sync = http.get("/$export")
        bad_since = http.get("/$export", params={"_since": "last week"}, headers=ASYNC)
        bad_format = http.get("/$export", params={"_outputFormat": "csv"}, headers=ASYNC)
        no_group = http.get("/Group/segment-nonsense/$export", headers=ASYNC)
    assert [r.status_code for r in (sync, bad_since, bad_format, no_group)] == [400, 400, 400, 404]
    expressions = [
        valid(r.json())["issue"][0].get("expression") for r in (sync, bad_since, bad_format)
    ]
    assert expressions == [["Prefer"], ["_since"], ["_outputFormat"]]


def test_kick_off_refuses_what_it_would_otherwise_ignore(fhir_server: FhirServer) -> None:
    """A filter careloop does not apply (``_typeFilter``, ``_elements``), a misspelled type
    or a ``_since`` time without its zone is a 400 naming it, and no export starts: ignoring
    them exported every Observation for a client that asked for laboratory results only, a
    typo gave an empty manifest, and a zoneless time was read as UTC."""
    from careloop.models import BulkExport

    asks = [
        {"_type": "Observation", "_typeFilter": "Observation?category=laboratory"},
        {"_type": "Patient", "_elements": "id,birthDate"},
        {"includeAssociatedData": "LatestProvenanceResources"},
        {"_type": "Patient,Observations"},
        {"_type": "Quantity"},
        {"_since": "2026-01-01T00:00:00"},  # whose midnight?
    ]
    with fhir_server.http("clinician") as http:
        answers = [http.get("/Patient/$export", params=a, headers=ASYNC) for a in asks]
        fine = http.get(
            "/$export", params={"_type": "Patient, MedicationAdministration"}, headers=ASYNC
        )
    assert [r.status_code for r in answers] == [400] * 6
    assert [valid(r.json())["issue"][0]["expression"] for r in answers] == [
        ["_typeFilter"],
        ["_elements"],
        ["includeAssociatedData"],
        ["_type"],
        ["_type"],
        ["_since"],
    ]
    assert fine.status_code == 202, fine.text
    with fhir_server.rt.transaction() as session:
        started = session.scalars(select(BulkExport.types)).all()
    assert started == [["Patient", "MedicationAdministration"]]


def test_type_since_group_and_write_back_in_an_export(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "bulk-1", "bulk-2")
    with fhir_server.http("clinician") as http:
        http.post("/Observation", json=blood_pressure("bulk-1", 192, 104, clock.now()))
        manifest = _export(
            http, "/Patient/$export", _type="Patient,Observation,Flag,Task", _since="2026-01-01"
        )
        flags = _lines(http, manifest, "Flag")
        group = _export(http, "/Group/segment-women/$export", _type="Patient")
        later = _export(http, "/$export", _type="Observation", _since="2027-01-01")
    assert sorted(o["type"] for o in manifest["output"]) == [
        "Flag",
        "Observation",
        "Patient",
        "Task",
    ]
    assert [f["subject"]["reference"] for f in flags] == ["Patient/bulk-1"]
    assert sorted(p["id"] for p in _lines_of(fhir_server, group, "Patient")) == ["bulk-1", "bulk-2"]
    assert later["output"] == []


def _lines_of(server: FhirServer, manifest: dict, rtype: str) -> list[dict]:  # type: ignore[type-arg]
    with server.http("clinician") as http:
        return _lines(http, manifest, rtype)


def test_only_the_requester_polls_and_a_cancelled_export_is_gone(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "bulk-3")
    with fhir_server.http("clinician") as http:
        status_url = http.get("/$export", headers=ASYNC).headers["content-location"]
        with fhir_server.http("coordinator") as other:
            stranger = other.get(status_url)
        cancelled = http.delete(status_url)
        after = http.get(status_url)
    assert (stranger.status_code, cancelled.status_code, after.status_code) == (404, 202, 404)


def test_the_export_is_written_by_the_worker_not_in_the_request(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    """Kick-off answers at once; the status URL says 202 with Retry-After until the
    ``fhir-exports`` job (here held, then let go) has written it, honouring _type/_since."""
    from careloop.compose.jobs import JobRunner

    add_patients(fhir_server.rt, tmp_path, "late-1")
    clock.advance(timedelta(days=1))
    add_patients(fhir_server.rt, tmp_path, "late-2")
    since = (clock.now() - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    fhir_server.exports_paused.set()
    with fhir_server.http("clinician") as http:
        kick_off = http.get("/$export", params={"_type": "Patient", "_since": since}, headers=ASYNC)
        status_url = kick_off.headers["content-location"]
        waiting = http.get(status_url)
        assert (waiting.status_code, waiting.headers["x-progress"]) == (202, "in progress")
        assert int(waiting.headers["retry-after"]) > 0
        outcomes = {o.name: o.result for o in JobRunner(fhir_server.rt, owner="w").run_due()}
        assert outcomes["fhir-exports"] == {"written": 1, "failed": 0}
        manifest = valid_manifest(http.get(status_url))
        lines = _lines(http, manifest, "Patient")
    assert [o["type"] for o in manifest["output"]] == ["Patient"]
    assert [p["id"] for p in lines] == ["late-2"]  # late-1 was imported before _since


def valid_manifest(answer: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert answer.status_code == 200, answer.text
    manifest: dict = answer.json()  # type: ignore[type-arg]
    return manifest


def _write_after_a_cancel(fhir_server: FhirServer, export_id: str) -> None:
    from careloop.fhir.bulk import cancel, write_export
    from careloop.models import BulkExport

    rt = fhir_server.rt
    with rt.transaction() as writer:
        job = writer.get(BulkExport, export_id)
        assert job is not None
        with rt.transaction() as other:  # the DELETE, committed while the job is written
            cancel(other, other.get(BulkExport, export_id))  # type: ignore[arg-type]
        write_export(writer, job, clock=rt.clock)


def test_an_export_cancelled_while_the_worker_writes_it_stays_cancelled(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    from careloop.fhir.bulk import ExportCancelled
    from careloop.models import BulkExport, BulkExportFile

    add_patients(fhir_server.rt, tmp_path, "bulk-4")
    rt = fhir_server.rt
    fhir_server.exports_paused.set()  # this test is the worker: the fixture's must not race it
    with fhir_server.http("clinician") as http:
        status_url = http.get("/$export", headers=ASYNC).headers["content-location"]
        export_id = status_url.rstrip("/").rsplit("/", 1)[-1]
        with pytest.raises(ExportCancelled):
            _write_after_a_cancel(fhir_server, export_id)
        after = http.get(status_url)
    assert after.status_code == 404
    with rt.transaction() as session:
        assert session.get(BulkExport, export_id).status == "cancelled"  # type: ignore[union-attr]
        files = session.scalars(
            select(BulkExportFile).where(BulkExportFile.export_id == export_id)
        ).all()
    assert files == []
