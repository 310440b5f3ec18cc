"""Segments over the record and the event log: membership, counts, the API's two views."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from program_fixtures import (
    SCT,
    appointment,
    caregiver,
    condition,
    import_patients,
    patient,
)
from typer.testing import CliRunner

from careloop.events import EventKind, record_event
from careloop.programs.segments.service import segment_counts, segment_membership
from careloop.runtime import Runtime

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def _population(rt: Runtime, tmp_path: Path) -> None:
    import_patients(
        rt,
        tmp_path,
        [
            [
                patient("ana", birth="1950-01-01", language="es-MX"),
                caregiver(),
                condition(ICD10, "Z59.82", onset="2025-06-01"),
                appointment("2025-10-01"),
                appointment("2026-01-15"),
            ],
            [
                patient("bob", birth="1990-06-01", gender="male"),
                condition(SCT, "44054006", onset="2015-01-01"),
                appointment("2025-11-01", status="fulfilled"),
                appointment("2024-01-01"),
            ],
            [patient("cy", birth="1940-01-01", deceasedDateTime="2025-01-01T00:00:00Z")],
        ],
    )
    now = rt.clock.now()
    with rt.transaction() as session:
        for days in (5, 10, 20, 30):
            record_event(
                session, kind=EventKind.SENT, clock=rt.clock, actor="test", patient_id="bob",
                occurred_at=now - timedelta(days=days),
            )  # fmt: skip
        record_event(
            session, kind=EventKind.SENT, clock=rt.clock, actor="test", patient_id="ana",
            occurred_at=now - timedelta(days=3),
        )  # fmt: skip


def test_membership_across_dimensions_living_patients_only(rt: Runtime, tmp_path: Path) -> None:
    _population(rt, tmp_path)
    with rt.transaction() as session:
        membership = segment_membership(
            session, patient_ids=["ana", "bob", "cy"], now=rt.clock.now()
        )

    assert membership == {
        "ana": {
            "age-65-plus", "women", "spanish-speaking", "has-caregiver", "transportation-need",
            "missed-appointments",
        },
        "bob": {"age-18-44", "men", "diabetes", "low-responders"},
    }  # fmt: skip


def test_a_reply_moves_a_patient_between_behavioural_segments(rt: Runtime, tmp_path: Path) -> None:
    _population(rt, tmp_path)
    with rt.transaction() as session:
        for _ in range(2):
            record_event(
                session, kind=EventKind.REPLIED, clock=rt.clock, actor="test", patient_id="bob"
            )
    with rt.transaction() as session:
        membership = segment_membership(
            session, names=["low-responders", "engaged-responders"], patient_ids=["bob"],
            now=rt.clock.now(),
        )  # fmt: skip

    assert membership == {"bob": {"engaged-responders"}}


def test_counts_and_cli_members(rt: Runtime, tmp_path: Path) -> None:
    from careloop.cli import app

    _population(rt, tmp_path)
    with rt.transaction() as session:
        counts = segment_counts(session, now=rt.clock.now())
    result = CliRunner().invoke(
        app,
        ["segments", "members", "women", "--json", "--database", rt.settings.database_url or ""],
    )

    assert counts["women"] == 1
    assert counts["age-45-64"] == 0
    assert result.exit_code == 0, result.stderr
    assert '"ana"' in result.stdout


def test_api_analyst_sees_counts_staff_see_ids(rt: Runtime, tmp_path: Path, api_client) -> None:  # type: ignore[no-untyped-def]
    _population(rt, tmp_path)
    analyst = api_client("analyst")
    coordinator = api_client("coordinator")
    patient_user = api_client("patient", patient_id="ana")

    listed = analyst.get("/api/segments")
    as_analyst = analyst.get("/api/segments/women/members")
    as_staff = coordinator.get("/api/segments/women/members")

    assert listed.status_code == 200
    assert {s["name"]: s["members"] for s in listed.json()}["women"] == 1
    assert as_analyst.json() == {"segment": "women", "count": 1}
    assert as_staff.json() == {"segment": "women", "count": 1, "members": ["ana"]}
    assert patient_user.get("/api/segments").status_code == 403
    assert patient_user.get("/api/segments/women/members").status_code == 403
    assert coordinator.get("/api/segments/nope/members").status_code == 422
