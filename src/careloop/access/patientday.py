"""What the record says about a patient's day, gathered for the slot finder.

* **Own availability**: the availability extension on the Patient resource (the same shape as
  a caregiver's, ``records.availability``); **works daytime**: the latest employment-status
  answer (LOINC 67875-5) is full-time work (LA17956-6).
* **Preferred time of day**: the stated send window, else the learned send window with the best
  response rate (at least 3 sends), from ``personalize``.
* **Companions**: caregivers with availability windows accompany the patient unless their
  RelatedPerson carries :data:`ACCOMPANIES_EXTENSION` = ``false``.
* **Transport need**: membership of the ``transportation-need`` segment (a "yes" to LOINC
  93030-5, e.g. LA33-6, in the last year, or Z59.82 on the problem list).
* **No-show risk**: high when the patient missed 2 or more appointments in the last year
  (``noshow`` Appointments in the record); and, with a trained no-show model, each candidate
  day's risk (:func:`noshow_risk_by_day`): the model's score of a booking made now for that
  day, from the record as any booking's score is (age, sex, conditions, earlier visits).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.access.finder import Companion, PatientDay
from careloop.fhirdata import dates
from careloop.fhirdata.codings import codes
from careloop.insights.risk.fhir_appointments import fhir_appointment_probabilities
from careloop.insights.risk.model import NoshowModel
from careloop.insights.risk.record_facts import noshow_facts
from careloop.personalize.actions import SendWindow
from careloop.personalize.service import get_profile
from careloop.programs.segments.service import segment_membership
from careloop.records.availability import from_extension
from careloop.records.caregivers import caregivers_of
from careloop.records.resources import get_resource, patient_resources
from careloop.records.service import get_patient

ACCOMPANIES_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/accompanies"
EMPLOYMENT_STATUS = "67875-5"
FULL_TIME = "LA17956-6"
TRANSPORT_SEGMENT = "transportation-need"


def accompanies(resource: dict[str, Any] | None) -> bool:
    for ext in (resource or {}).get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == ACCOMPANIES_EXTENSION:
            return ext.get("valueBoolean") is not False
    return True


def _works_full_time(observations: list[dict[str, Any]]) -> bool:
    answers = [
        o
        for o in observations
        if EMPLOYMENT_STATUS in codes(o.get("code")) and o.get("effectiveDateTime")
    ]
    if not answers:
        return False
    latest = max(answers, key=lambda o: dates.start(o["effectiveDateTime"]))
    return FULL_TIME in codes(latest.get("valueCodeableConcept"))


def _preferred_windows(session: Session, patient_id: str) -> tuple[tuple[int, int], ...]:
    profile = get_profile(session, patient_id=patient_id)
    label = profile.stated.send_window
    if label is None:
        best: tuple[float, str] | None = None
        for factors in profile.learned.values():
            for value, evidence in factors.get("send_window", {}).items():
                if evidence.sent >= 3:
                    rate = evidence.responded / evidence.sent
                    best = max(best or (rate, value), (rate, value))
        label = best[1] if best else None
    if label is None:
        return ()
    window = SendWindow.parse(label)
    return ((window.start_minute, window.end_minute),)


def _missed_recently(appointments: list[dict[str, Any]], now: datetime) -> int:
    since = now - timedelta(days=365)
    return sum(
        1
        for a in appointments
        if a.get("status") == "noshow"
        and (moment := dates.instant(a.get("start"))) is not None
        and since <= moment <= now
    )


def patient_day(session: Session, *, patient_id: str, now: datetime) -> PatientDay:
    """Build the finder's view of one patient (raises NotFound for an unknown patient)."""
    patient = get_patient(session, patient_id)
    own = get_resource(session, resource_type="Patient", fhir_id=patient_id)
    companions = []
    for carer in caregivers_of(session, patient_id=patient_id):
        if not carer.availability:
            continue
        related = get_resource(session, resource_type="RelatedPerson", fhir_id=carer.id)
        if accompanies(related):
            companions.append(Companion(carer.relationship, tuple(carer.availability)))
    records = patient_resources(
        session, patient_id=patient_id, resource_types=("Observation", "Appointment")
    )
    observations = [r for r in records if r["resourceType"] == "Observation"]
    appointments = [r for r in records if r["resourceType"] == "Appointment"]
    segments = segment_membership(
        session, names=[TRANSPORT_SEGMENT], patient_ids=[patient_id], now=now
    )
    return PatientDay(
        timezone=patient.timezone,
        works_daytime=_works_full_time(observations),
        availability=tuple(from_extension(own or {})),
        preferred_windows=_preferred_windows(session, patient_id),
        companions=tuple(companions),
        transport_need=TRANSPORT_SEGMENT in segments.get(patient_id, set()),
        high_noshow_risk=_missed_recently(appointments, now) >= 2,
    )


def noshow_risk_by_day(
    session: Session,
    *,
    patient_id: str,
    now: datetime,
    days: Iterable[date],
    model: NoshowModel,
) -> dict[date, float]:
    """The model's no-show probability of a booking made ``now`` for each of ``days`` (the
    features vary by day only: lead time and weekday), as the journey would score it."""
    facts = noshow_facts(session, patient_id=patient_id)
    candidates = sorted(set(days))
    bookings = [
        {"id": "", "created": now.isoformat(), "start": f"{day.isoformat()}T12:00:00Z"}
        for day in candidates
    ]
    scored = fhir_appointment_probabilities(model, appointments=bookings, **facts)
    return {day: p for day, p in zip(candidates, scored, strict=True) if p is not None}
