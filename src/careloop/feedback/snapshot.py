"""Loading the part of a patient's record the rules read, through the records domain."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from careloop.errors import CareloopError
from careloop.feedback.catalog import Catalog
from careloop.feedback.checkins import Checkin, read_checkin
from careloop.feedback.evaluate import TEMPERATURE_WITHIN, RecordSnapshot
from careloop.feedback.readings import Reading, read_observation
from careloop.feedback.therapy import THERAPY_TYPES, active_therapy
from careloop.records.resources import patient_resources

TEMPERATURE = "body_temperature"
READINGS_LOOKBACK = timedelta(days=60)
CHECKINS_LOOKBACK = timedelta(days=365)
_INACTIVE = {"inactive", "resolved", "remission", "entered-in-error"}


def _condition_codes(resources: list[dict[str, object]]) -> frozenset[str]:
    codes: set[str] = set()
    for condition in resources:
        status = condition.get("clinicalStatus")
        status_codes = {
            c.get("code")
            for c in (status.get("coding") or [] if isinstance(status, dict) else [])
            if isinstance(c, dict)
        }
        if status_codes & _INACTIVE or condition.get("abatementDateTime"):
            continue
        concept = condition.get("code")
        for coding in concept.get("coding") or [] if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("code"):
                codes.add(f"{coding.get('system') or ''}|{coding['code']}")
    return frozenset(codes)


def load_snapshot(
    session: Session,
    *,
    patient_id: str,
    now: datetime,
    catalog: Catalog,
    readings: bool = True,
    checkins: bool = True,
) -> RecordSnapshot:
    """Recent readings and active conditions, and/or a year of check-ins (for baselines),
    and whether the patient is on active anticancer therapy (both paths need it).

    A new reading is only judged against readings and conditions, a new check-in only
    against past check-ins (and the day's temperatures), so each path loads what it reads.
    """
    found_readings: list[Reading] = []
    conditions: frozenset[str] = frozenset()
    if readings:
        for observation in patient_resources(
            session,
            patient_id=patient_id,
            resource_types=["Observation"],
            since=now - READINGS_LOOKBACK,
        ):
            found_readings.extend(read_observation(observation, now=None))
        conditions = _condition_codes(
            patient_resources(session, patient_id=patient_id, resource_types=["Condition"])
        )
    elif checkins:
        # A reported fever is shown with the temperature taken that day (one card, both sides).
        for observation in patient_resources(
            session,
            patient_id=patient_id,
            resource_types=["Observation"],
            since=now - TEMPERATURE_WITHIN,
        ):
            found_readings.extend(
                r for r in read_observation(observation, now=None) if r.measure == TEMPERATURE
            )
    found_checkins: list[Checkin] = []
    if checkins:
        for response in patient_resources(
            session,
            patient_id=patient_id,
            resource_types=["QuestionnaireResponse"],
            since=now - CHECKINS_LOOKBACK,
        ):
            try:
                questionnaire = catalog.get(str(response.get("questionnaire") or ""))
                found_checkins.append(read_checkin(questionnaire, response, now=None))
            except CareloopError:
                continue  # a response to a questionnaire we do not know has no baseline for us
    therapy = active_therapy(
        patient_resources(session, patient_id=patient_id, resource_types=THERAPY_TYPES),
        now=now,
    )
    return RecordSnapshot(
        patient_id=patient_id,
        readings=tuple(found_readings),
        checkins=tuple(found_checkins),
        condition_codes=conditions,
        active_therapy=therapy,
    )
