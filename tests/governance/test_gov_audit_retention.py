"""Audit chain verify/export, retention purges with signed checkpoints, export, erasure,
and contact points encrypted at rest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text
from tests.governance.conftest import (
    A_EMAIL,
    OPERATOR,
    PATIENT_A,
    PATIENT_B,
    PATIENT_DEAD,
    enrol,
)
from typer.testing import CliRunner

from careloop.audit import AuditAction, Purpose, audit, verify_chain
from careloop.cli import app as cli
from careloop.clock import FrozenClock
from careloop.crypto import (
    EncryptionKeyError,
    KeyRing,
    configured_signing_key,
    generate_key,
    use_keyring,
)
from careloop.events import EventKind, record_event
from careloop.governance.retention import purge_expired
from careloop.models import Caregiver, Event, FhirResource, Patient, PortalContact, RetentionRun
from careloop.runtime import Runtime

runner = CliRunner()


def _audit_some(rt: Runtime, n: int, patient_id: str = PATIENT_A) -> None:
    with rt.transaction() as session:
        for _ in range(n):
            audit(
                session,
                clock=rt.clock,
                principal=OPERATOR,
                action=AuditAction.READ,
                resource="patient-record",
                purpose=Purpose.TREATMENT,
                patient_ids=[patient_id],
            )


def test_audit_verify_reports_tampering_with_exit_1(rt: Runtime, database_url: str) -> None:
    _audit_some(rt, 3)
    ok = runner.invoke(cli, ["audit", "verify", "--database", database_url, "--json"])
    assert ok.exit_code == 0
    assert orjson.loads(ok.stdout) == {
        "ok": True,
        "checked": 3,
        "purged": 0,
        "first_bad_id": None,
        "reason": None,
    }
    with rt.transaction() as session:
        second = session.scalars(text("SELECT id FROM audit_events ORDER BY id")).all()[1]
        session.execute(
            text("UPDATE audit_events SET actor = 'someone-else' WHERE id = :i"), {"i": second}
        )
    broken = runner.invoke(cli, ["audit", "verify", "--database", database_url, "--json"])
    assert broken.exit_code == 1
    assert orjson.loads(broken.stdout)["first_bad_id"] == second


def test_audit_export_is_a_fhir_bundle_of_audit_events(
    population: Runtime, database_url: str
) -> None:
    _audit_some(population, 2, PATIENT_B)
    result = runner.invoke(
        cli,
        ["audit", "export", "--patient", PATIENT_B, "--format", "fhir", "--database", database_url],
    )
    bundle = orjson.loads(result.stdout)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["total"] >= 2
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"AuditEvent"}


def test_audit_export_to_a_file_writes_the_bundle_whole(
    population: Runtime, database_url: str, tmp_path: Path
) -> None:
    _audit_some(population, 2, PATIENT_B)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "audit.json"
    result = runner.invoke(
        cli,
        ["audit", "export", "--patient", PATIENT_B, "--output", str(target), "-d", database_url],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the document went to the file; stdout stays clean
    assert orjson.loads(target.read_bytes())["resourceType"] == "Bundle"
    assert [p.name for p in target.parent.iterdir()] == ["audit.json"]  # no half-written file


def test_purging_old_audit_events_keeps_the_chain_verifiable(
    keyed_rt: Runtime, clock: FrozenClock
) -> None:
    _audit_some(keyed_rt, 4)
    clock.advance(timedelta(days=2200))
    _audit_some(keyed_rt, 2)
    key = configured_signing_key(keyed_rt.settings)
    with keyed_rt.transaction() as session:
        results = purge_expired(
            session, settings=keyed_rt.settings.retention, now=clock.now(), key=key
        )
    row = next(r for r in results if r["target"] == "audit-events")
    assert row["deleted"] == 4
    assert sum(row["aggregates"].values()) == 4
    with keyed_rt.transaction() as session:
        report = verify_chain(session, key=key)
        assert (report.ok, report.checked, report.purged) == (True, 2, 4)
        assert session.scalar(select(func.count()).select_from(RetentionRun)) == 1
        assert not verify_chain(session, key=b"another key").ok


def test_without_a_secret_key_the_audit_trail_is_never_purged(
    rt: Runtime, clock: FrozenClock
) -> None:
    _audit_some(rt, 2)
    clock.advance(timedelta(days=2200))
    with rt.transaction() as session:
        results = purge_expired(session, settings=rt.settings.retention, now=clock.now(), key=None)
    row = next(r for r in results if r["target"] == "audit-events")
    assert row["deleted"] == 0
    assert "secret_key" in row["skipped"]


def test_retention_cli_dry_run_counts_and_deletes_nothing(
    population: Runtime, database_url: str, clock: FrozenClock
) -> None:
    result = runner.invoke(
        cli, ["retention", "purge", "--dry-run", "--json", "--database", database_url]
    )
    body = orjson.loads(result.stdout)
    targets = {t["target"]: t for t in body["targets"]}
    assert body["dry_run"] is True
    assert targets["deceased-records"]["deleted"] == 1
    assert targets["message-bodies"]["skipped"].startswith("no target registered")
    with population.transaction() as session:
        assert session.get(Patient, PATIENT_DEAD) is not None


def test_records_of_long_deceased_patients_are_purged_with_counts_kept(population: Runtime) -> None:
    with population.transaction() as session:
        results = purge_expired(
            session, settings=population.settings.retention, now=population.clock.now(), key=None
        )
    row = next(r for r in results if r["target"] == "deceased-records")
    assert row["aggregates"] == {"Patient": 1, "Observation": 1, "patients": 1}
    with population.transaction() as session:
        assert session.get(Patient, PATIENT_DEAD) is None
        assert session.get(Patient, PATIENT_A) is not None
        kept = session.scalars(select(RetentionRun.aggregates)).one()
    assert kept["Observation"] == 1


def test_patient_export_holds_resources_consents_and_audit(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    api_client("coordinator").put(
        f"/api/patients/{PATIENT_A}/consent",
        json={"changes": [{"purpose": "research", "channel": "email", "status": "granted"}]},
    )
    patient = api_client("patient", patient_id=PATIENT_A)
    bundle = patient.get(f"/api/patients/{PATIENT_A}/$export").json()
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Observation", "RelatedPerson", "Consent", "AuditEvent"} <= kinds
    assert patient.get(f"/api/patients/{PATIENT_B}/$export").status_code == 404
    assert api_client("coordinator").get(f"/api/patients/{PATIENT_A}/$export").status_code == 403


def test_erasure_removes_the_record_and_keeps_an_audit_event(
    population: Runtime, database_url: str
) -> None:
    enrol(population, patient_id=PATIENT_A, system="email", value=A_EMAIL)
    with population.transaction() as session:
        record_event(
            session, kind=EventKind.SENT, clock=population.clock, actor="t", patient_id=PATIENT_A
        )
    result = runner.invoke(
        cli,
        [
            "patients",
            "erase",
            PATIENT_A,
            "--reason",
            "GDPR art. 17 request #12",
            "--yes",
            "--json",
            "--database",
            database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["pseudonymized_events"] == 1
    with population.transaction() as session:
        assert session.get(Patient, PATIENT_A) is None
        assert session.scalar(select(func.count()).select_from(Caregiver)) == 0
        assert (
            session.scalar(
                select(func.count())
                .select_from(FhirResource)
                .where(FhirResource.patient_id == PATIENT_A)
            )
            == 0
        )
        assert session.scalar(select(func.count()).select_from(PortalContact)) == 0
        owners = set(session.scalars(select(Event.patient_id)))
        assert report["pseudonym"] in owners
        assert PATIENT_A not in owners
        assert verify_chain(session).ok
    trail = runner.invoke(
        cli, ["audit", "export", "--patient", PATIENT_A, "--database", database_url]
    )
    assert "patient-erasure" in trail.stdout
    again = runner.invoke(
        cli, ["patients", "erase", PATIENT_A, "--reason", "x", "--yes", "--database", database_url]
    )
    assert again.exit_code == 2


def test_contact_points_are_encrypted_at_rest_and_keys_rotate(population: Runtime) -> None:
    old_key = generate_key()
    with use_keyring(KeyRing([old_key])):
        enrol(population, patient_id=PATIENT_A, system="email", value=A_EMAIL)
        with population.transaction() as session:
            stored = session.scalar(text("SELECT value FROM portal_contacts"))
            assert stored.startswith("fernet:")
            assert "govtest" not in stored.lower()
            assert session.scalar(select(PortalContact.value)) == A_EMAIL.lower()
    with use_keyring(KeyRing([generate_key(), old_key])), population.transaction() as session:
        assert session.scalar(select(PortalContact.value)) == A_EMAIL.lower()
    with (
        use_keyring(KeyRing([generate_key()])),
        population.transaction() as session,
        pytest.raises(EncryptionKeyError),
    ):
        session.scalar(select(PortalContact.value))
