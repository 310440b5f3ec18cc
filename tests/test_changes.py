"""A state change is recorded once: the row, then its event, then its audit record."""

from __future__ import annotations

from sqlalchemy import select

from careloop.audit import AuditAction, Auditor, Purpose, verify_chain
from careloop.changes import record_change
from careloop.clock import FrozenClock
from careloop.events import EventKind, list_events
from careloop.models import AuditEvent
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

NURSE = Principal(actor="user:nurse", role=Role.CLINICIAN)


def test_the_event_and_the_audit_record_name_the_same_change(
    rt: Runtime, clock: FrozenClock
) -> None:
    with rt.transaction() as session:
        record_change(
            session,
            clock=clock,
            principal=NURSE,
            event=EventKind.ALERT_ASSIGNED,
            subject=("worklist_item", 7),
            patient_id="p1",
            program="bp-control",
            payload={"assignee": "team"},
            resource="worklist-item:assign",
            purpose=Purpose.TREATMENT,
            detail={"item": 7},
        )
    with rt.transaction() as session:
        (event,) = list_events(session, patient_id="p1")
        (audited,) = session.scalars(select(AuditEvent)).all()
        chain = verify_chain(session)
    assert (event.kind, event.actor, event.subject_type, event.subject_id) == (
        "alert_assigned",
        "user:nurse",
        "worklist_item",
        "7",
    )
    assert (event.program, event.payload) == ("bp-control", {"assignee": "team"})
    assert (audited.actor, audited.action, audited.resource, audited.patient_id) == (
        "user:nurse",
        str(AuditAction.UPDATE),
        "worklist-item:assign",
        "p1",
    )
    assert (audited.purpose, audited.detail) == (str(Purpose.TREATMENT), {"item": 7})
    assert chain.ok


def test_a_change_about_no_patient_is_still_audited(rt: Runtime, clock: FrozenClock) -> None:
    with rt.transaction() as session:
        record_change(
            session,
            clock=clock,
            principal=NURSE,
            event=EventKind.CONTENT_APPROVED,
            subject=("content_version", 1),
            resource="content-version:approve",
            purpose=Purpose.OPERATIONS,
        )
    with rt.transaction() as session:
        (audited,) = session.scalars(select(AuditEvent)).all()
    assert audited.patient_id is None


def test_a_bound_auditor_writes_as_its_principal_for_its_purpose(
    rt: Runtime, clock: FrozenClock
) -> None:
    with rt.transaction() as session:
        audited = Auditor(session, clock, NURSE, Purpose.TREATMENT)
        audited(AuditAction.CREATE, "Device/d1", ["p1"])
        audited(AuditAction.UPDATE, "Device/d1", ["p1", "p2"], detail={"status": "revoked"})
        audited.read("Device", [])  # nobody's data shown: nothing to audit
        audited.read("Device", ["p2"])
    with rt.transaction() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        chain = verify_chain(session)
    assert [(r.action, r.resource, r.patient_id) for r in rows] == [
        ("create", "Device/d1", "p1"),
        ("update", "Device/d1", "p1"),
        ("update", "Device/d1", "p2"),
        ("read", "Device", "p2"),
    ]
    assert {(r.actor, r.actor_role, r.purpose) for r in rows} == {
        ("user:nurse", str(Role.CLINICIAN), str(Purpose.TREATMENT))
    }
    assert [r.detail for r in rows[:2]] == [{}, {"status": "revoked"}]
    assert chain.ok
