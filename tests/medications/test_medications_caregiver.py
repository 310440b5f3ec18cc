"""A caregiver who manages the medicines gets a copy of each dose reminder (issue #23):
the time and the patient's first name, never the medicine; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.medications.reminders import send_due_reminders
from careloop.models import Caregiver, OutboxMessage
from careloop.runtime import Runtime
from tests.medications.conftest import add_resources, make_patient, medication

ZONE = ZoneInfo("America/New_York")
DAY = datetime(2026, 3, 3, 5, 0, tzinfo=ZONE)
runner = CliRunner()


def _caregiver(rt: Runtime, caregiver_id: str, name: str, phone: str) -> None:
    with rt.transaction() as session:
        session.add(
            Caregiver(
                id=caregiver_id,
                patient_id="p-care",
                name=name,
                relationship="daughter",
                contact_points=[{"system": "phone", "value": phone, "use": "mobile"}],
                availability=[],
                is_proxy=False,
                updated_at=rt.clock.now(),
            )
        )


def test_the_caregiver_who_manages_the_medicines_gets_a_copy(
    rt: Runtime, clock: FrozenClock, database_url: str
) -> None:
    clock.set(DAY)
    make_patient(rt, patient_id="p-care")
    add_resources(rt, "p-care", medication("MedicationRequest", "mr-care", when=DAY))
    _caregiver(rt, "cg-maria", "Maria Lopez", "+15550100077")
    _caregiver(rt, "cg-juan", "Juan Lopez", "+15550100088")
    result = runner.invoke(
        app,
        ["caregivers", "manages-medications", "cg-maria", "--yes", "--json", "-d", database_url],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"caregiver": "cg-maria", "manages_medications": True}

    at = DAY.replace(hour=8, minute=1)
    clock.set(at)
    with rt.transaction() as session:
        report = send_due_reminders(session, now=at, clock=rt.clock, settings=rt.settings)
        sent = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert len(report.queued) == 2
    by_whom = {(m.recipient_kind, m.caregiver_id): m for m in sent}
    assert set(by_whom) == {("patient", None), ("caregiver", "cg-maria")}
    patient, copy = by_whom[("patient", None)], by_whom[("caregiver", "cg-maria")]
    assert copy.to_address.endswith("0100077")
    assert copy.due_at == patient.due_at
    assert "Rosa" in copy.body
    assert "08:00" in copy.body
    assert "metformin" not in copy.body.lower()
    assert "Reply 1" not in copy.body  # her answer is the patient's to give

    # The care team takes the flag off: the next reminder goes to the patient alone.
    result = runner.invoke(
        app, ["caregivers", "manages-medications", "cg-maria", "--no", "-d", database_url]
    )
    assert result.output.strip() == "cg-maria: does not manage the medicines"
    evening = DAY.replace(hour=20, minute=1)
    clock.set(evening)
    with rt.transaction() as session:
        send_due_reminders(session, now=evening, clock=rt.clock, settings=rt.settings)
        later = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id > copy.id)))
    assert [(m.recipient_kind, m.patient_id) for m in later] == [("patient", "p-care")]


def test_unknown_caregiver_is_one_line_and_exit_2(rt: Runtime, database_url: str) -> None:
    result = runner.invoke(
        app, ["caregivers", "manages-medications", "cg-nobody", "-d", database_url]
    )
    assert result.exit_code == 2
    assert "no such caregiver" in result.output
    assert "Traceback" not in result.output
