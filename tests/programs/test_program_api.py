"""Programs over HTTP: read with programs:read, run with programs:run; runs are audited."""

from __future__ import annotations

from pathlib import Path

from program_fixtures import import_patients, patient
from sqlalchemy import select

from careloop.models import AuditEvent
from careloop.runtime import Runtime


def test_list_show_and_run(rt: Runtime, tmp_path: Path, api_client) -> None:  # type: ignore[no-untyped-def]
    import_patients(rt, tmp_path, [[patient("due", birth="1960-03-04")]])
    coordinator = api_client("coordinator")

    listed = coordinator.get("/api/programs")
    shown = coordinator.get("/api/programs/breast-cancer-screening")
    ran = coordinator.post(
        "/api/programs/breast-cancer-screening/run", json={"period": "2025-01-01/2025-12-31"}
    )
    again = coordinator.post(
        "/api/programs/breast-cancer-screening/run", json={"period": "2025-01-01/2025-12-31"}
    )

    assert listed.status_code == 200
    assert len(listed.json()) == 8
    assert shown.json()["eligibility"] == {"measure": "CMS125", "mode": "outreach"}
    assert ran.status_code == 200, ran.text
    assert [(e["patient"], e["new"]) for e in ran.json()["eligible"]] == [("due", True)]
    assert [(e["patient"], e["new"]) for e in again.json()["eligible"]] == [("due", False)]
    with rt.transaction() as session:
        audited = session.scalars(
            select(AuditEvent.patient_id).where(
                AuditEvent.resource == "program:breast-cancer-screening:eligible"
            )
        ).all()
    assert audited == ["due", "due"]


def test_permissions(rt: Runtime, tmp_path: Path, api_client) -> None:  # type: ignore[no-untyped-def]
    import_patients(rt, tmp_path, [[patient("p1", birth="1960-03-04")]])
    analyst = api_client("analyst")
    patient_user = api_client("patient", patient_id="p1")
    anonymous = api_client(None)

    assert analyst.get("/api/programs").status_code == 200
    assert analyst.post("/api/programs/flu-shot-this-season/run").status_code == 403
    assert patient_user.get("/api/programs").status_code == 403
    assert anonymous.get("/api/programs").status_code == 401


def test_bad_period_and_unknown_program(rt: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    coordinator = api_client("coordinator")

    bad = coordinator.post("/api/programs/breast-cancer-screening/run", json={"period": "2025"})
    unknown = coordinator.get("/api/programs/nope")

    assert bad.status_code == 422
    assert "period" in bad.text
    assert unknown.status_code == 422
