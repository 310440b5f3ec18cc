"""The demo's medication story: one patient on metformin twice a day whose reminders follow
her routine, and one colonoscopy preparation whose teach-back ends with a nurse task.

Ids, slots and times only: no name, no medicine, no phone is printed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from rich.console import Console
from sqlalchemy import select

from careloop.cli.support import new_table
from careloop.models import FhirResource, Patient
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

if TYPE_CHECKING:
    from careloop.cli.demo_run import DemoReport

DEMO = Principal(actor="system:demo", role=Role.CLINICIAN, source="demo")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PREP_MIN_AGE = 45
METFORMIN_DISPLAY = "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"


def _two_patients(rt: Runtime) -> list[tuple[str, str]]:
    """(careloop id, FHIR id) of the first two living sample patients."""
    with rt.transaction() as session:
        rows = session.execute(
            select(FhirResource.patient_id, FhirResource.fhir_id)
            .where(FhirResource.resource_type == "Patient", FhirResource.patient_id.is_not(None))
            .order_by(FhirResource.fhir_id)
            .limit(2)
        ).all()
    return [(str(pid), str(fid)) for pid, fid in rows]


def _prep_patient(rt: Runtime, *, besides: str, on: date) -> str | None:
    """A living sample patient of colonoscopy-screening age (45 or over; USPSTF 2021), not
    the medication patient: the demo prepped a 12-year-old for a colonoscopy."""
    born_by = on.replace(year=on.year - PREP_MIN_AGE, day=min(on.day, 28))
    with rt.transaction() as session:
        return session.scalar(
            select(Patient.id)
            .where(
                Patient.id != besides,
                Patient.deceased.is_(False),
                Patient.birth_date.is_not(None),
                Patient.birth_date <= born_by,
            )
            .order_by(Patient.id)
            .limit(1)
        )


def step_medications(rt: Runtime, console: Console, report: DemoReport) -> None:
    from zoneinfo import ZoneInfo

    from careloop.medications.prep import answer_prep, prep_pass, start_prep
    from careloop.medications.service import confirm, patient_of, reminders
    from careloop.records.resources import store_resources

    patients = _two_patients(rt)
    if len(patients) < 2:
        return
    (med_patient, med_ref), (first_other, _) = patients
    now = rt.clock.now()
    prep_patient = _prep_patient(rt, besides=med_patient, on=now.date()) or first_other
    request = {
        "resourceType": "MedicationRequest",
        "id": f"demo-metformin-{med_ref}"[:64],
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{med_ref}"},
        "authoredOn": (now - timedelta(days=8)).isoformat(),
        # Named as an EHR names it: without a name the portal and the reminders showed the
        # patient the bare RxNorm code ("860975 · morning").
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "860975", "display": METFORMIN_DISPLAY}],
            "text": "Metformin 500 mg extended-release tablet",
        },
        "dosageInstruction": [{"timing": {"code": {"coding": [{"code": "BID"}]}}}],
    }
    with rt.transaction() as session:
        store_resources(session, [request], clock=rt.clock, principal=DEMO, source="demo")
        zone = ZoneInfo(patient_of(session, med_patient).timezone)
        for days in range(7, 0, -1):
            day = (now - timedelta(days=days)).astimezone(zone)
            for hour, minute in ((8, 40), (20, 25)):
                at = day.replace(hour=hour, minute=minute + days % 5)
                confirm(
                    session,
                    patient_id=med_patient,
                    answer="taken",
                    at=at,
                    channel="sms",
                    actor="demo",
                    now=now,
                )
        slots = reminders(session, patient_id=med_patient, now=now)
    table = new_table(
        f"9. Medications: patient {med_patient} confirms doses at her own times",
        "slot",
        "next reminder",
        "why",
    )
    for slot in slots:
        table.add_row(slot.slot, slot.next_reminder, slot.basis)
    console.print(table)
    with rt.transaction() as session:
        journey = start_prep(
            session,
            patient_id=prep_patient,
            kind="colonoscopy",
            appointment_at=now + timedelta(hours=26),
            now=now,
        )
        prep_pass(session, now=now, clock=rt.clock, settings=rt.settings)
        for wrong in ("2", "2"):
            answer_prep(
                session, patient_id=prep_patient, text=wrong, clock=rt.clock, settings=rt.settings
            )
        status, task = journey.status, journey.task_item_id
    console.print(
        f"   Exam prep: patient {prep_patient}, colonoscopy tomorrow; two wrong teach-back "
        f"answers → {status}, nurse task #{task} on the worklist."
    )
    report.sections["medications"] = {
        "patient_id": med_patient,
        "slots": [s.model_dump(exclude={"medication"}) for s in slots],
        "prep": {"patient_id": prep_patient, "status": status, "task": task},
    }
