"""Audit rows for a list shown are written set-wise, on both databases: one row per patient
read, in chain order, a chain that verifies, the head's count right (PostgreSQL: one INSERT)."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.statements import statements

from careloop.audit import Purpose, audit_read, verify_chain
from careloop.models import AuditChainHead, AuditEvent
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR


def test_a_list_read_writes_one_row_per_patient_in_chain_order(rt: Runtime) -> None:
    patients = [f"ab-{n:03d}" for n in range(300)]
    with statements(rt.engine, "INSERT INTO audit_events") as inserts, rt.transaction() as session:
        for batch in (patients[:1], patients[1:]):
            audit_read(
                session,
                clock=rt.clock,
                principal=CLI_OPERATOR,
                resource="appointments",
                purpose=Purpose.TREATMENT,
                patient_ids=batch,
            )

    with rt.transaction() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        head = session.get(AuditChainHead, 1)
        assert head is not None
        assert [r.patient_id for r in rows] == patients
        assert all(r.action == "read" and r.resource == "appointments" for r in rows)
        assert head.count == session.scalar(select(func.count()).select_from(AuditEvent))
        assert head.last_hash == rows[-1].hash
        report = verify_chain(session)
    assert report.ok, report.reason
    assert report.checked == len(patients)
    if rt.engine.dialect.name == "postgresql":
        assert len(inserts) == 2  # one a call, however many patients
