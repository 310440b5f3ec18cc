"""The patient view reads the patient's event log once for its four log panels, writes its
two audit events (messages, then the view) under one lock of the chain, and keeps showing
what each panel showed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.clock import FrozenClock
from careloop.events import NewEvent, record_events
from careloop.models import AuditEvent
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients
from tests.statements import statements

PID = "view-001"


def _history(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    add_patients(rt, tmp_path, PID)
    at = clock.now() - timedelta(days=3)
    base = {"actor": "test", "patient_id": PID, "program": "breast-cancer-screening"}
    with rt.transaction() as session:
        record_events(
            session,
            events=[
                NewEvent(
                    kind="eligible", occurred_at=at, payload={"reason": "no mammogram"}, **base
                ),
                NewEvent(kind="enrolled", occurred_at=at, payload={"arm": "treatment"}, **base),
                NewEvent(kind="sent", occurred_at=at, payload={"channel": "sms"}, **base),
                NewEvent(
                    kind="reading_received",
                    actor="test",
                    patient_id=PID,
                    occurred_at=at,
                    payload={"values": {"systolic_bp": 151, "diastolic_bp": 92}},
                ),
            ],
            clock=clock,
        )


def test_the_view_reads_the_log_once_and_audits_both_reads_in_one_write(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    _history(rt, clock, tmp_path)
    nurse = api_client("clinician")
    nurse.get(f"/console/patients/{PID}")  # the first request warms caches
    with statements(rt.engine, starting="") as sent:
        page = nurse.get(f"/console/patients/{PID}")

    assert page.status_code == 200
    assert "Due: no mammogram" in page.text  # the timeline
    assert "no mammogram" in page.text.split('id="gaps-h"')[1]  # the care gaps panel
    assert "contacted" in page.text  # the program's state
    assert "Blood pressure trend" in page.text  # the readings chart
    log_reads = [s for s in sent if "FROM events" in s and "events.patient_id =" in s]
    assert len(log_reads) == 1, log_reads
    audit_writes = [s for s in sent if s.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS")]
    assert len(audit_writes) == 1
    with rt.transaction() as session:
        resources = session.scalars(
            select(AuditEvent.resource)
            .where(AuditEvent.patient_id == PID, AuditEvent.action == "read")
            .order_by(AuditEvent.id)
        ).all()
    assert resources[-2:] == ["patient-messages", "patient-view"]
    assert resources.count("patient-view") == 2  # one per view
