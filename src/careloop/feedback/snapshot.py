"""Loading the part of a patient's record the rules read, through the records domain."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.errors import CareloopError
from careloop.feedback.catalog import Catalog
from careloop.feedback.checkins import Checkin, read_checkin
from careloop.feedback.evaluate import TEMPERATURE_WITHIN, RecordSnapshot
from careloop.feedback.readings import Reading, read_observation
from careloop.feedback.therapy import THERAPY_TYPES, active_therapy
from careloop.records.resources import patient_resources, resources_of_patients

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


def _recent(
    session: Session, patient_ids: Collection[str], resource_type: str, since: datetime
) -> dict[str, list[dict[str, Any]]]:
    return resources_of_patients(
        session, patient_ids=patient_ids, resource_types=[resource_type], since=since
    )


def _temperatures(observations: Iterable[dict[str, Any]]) -> list[Reading]:
    """The temperatures among ``observations``: a reported fever is shown with them."""
    return [
        r for o in observations for r in read_observation(o, now=None) if r.measure == TEMPERATURE
    ]


def _known_checkins(responses: Iterable[dict[str, Any]], catalog: Catalog) -> list[Checkin]:
    """The check-ins read from ``responses``, passing over those to questionnaires we do not
    know: they give no baseline."""
    found: list[Checkin] = []
    for response in responses:
        try:
            questionnaire = catalog.get(str(response.get("questionnaire") or ""))
            found.append(read_checkin(questionnaire, response, now=None))
        except CareloopError:
            continue
    return found


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

    def of_types(types: Sequence[str], within: timedelta | None = None) -> list[dict[str, Any]]:
        since = now - within if within is not None else None
        return patient_resources(session, patient_id=patient_id, resource_types=types, since=since)

    found_readings: list[Reading] = []
    conditions: frozenset[str] = frozenset()
    if readings:
        for observation in of_types(["Observation"], READINGS_LOOKBACK):
            found_readings.extend(read_observation(observation, now=None))
        conditions = _condition_codes(of_types(["Condition"]))
    elif checkins:
        # A reported fever is shown with the temperature taken that day (one card, both sides).
        found_readings = _temperatures(of_types(["Observation"], TEMPERATURE_WITHIN))
    found_checkins = (
        _known_checkins(of_types(["QuestionnaireResponse"], CHECKINS_LOOKBACK), catalog)
        if checkins
        else []
    )
    therapy = active_therapy(of_types(THERAPY_TYPES), now=now)
    return RecordSnapshot(
        patient_id=patient_id,
        readings=tuple(found_readings),
        checkins=tuple(found_checkins),
        condition_codes=conditions,
        active_therapy=therapy,
    )


def load_reading_snapshots(
    session: Session, *, patient_ids: Collection[str], now: datetime
) -> dict[str, RecordSnapshot]:
    """:func:`load_snapshot` for new readings (``checkins=False``) of many patients at once:
    two queries for a whole batch instead of three per reading."""
    observations = _recent(session, patient_ids, "Observation", now - READINGS_LOOKBACK)
    others = resources_of_patients(
        session, patient_ids=patient_ids, resource_types=["Condition", *THERAPY_TYPES]
    )
    conditions = {
        p: [r for r in rs if r.get("resourceType") == "Condition"] for p, rs in others.items()
    }
    therapies = {
        p: [r for r in rs if r.get("resourceType") != "Condition"] for p, rs in others.items()
    }
    return {
        pid: RecordSnapshot(
            patient_id=pid,
            readings=tuple(r for o in observations[pid] for r in read_observation(o, now=None)),
            condition_codes=_condition_codes(conditions[pid]),
            active_therapy=active_therapy(therapies[pid], now=now),
        )
        for pid in patient_ids
    }


def load_checkin_snapshots(
    session: Session, *, patient_ids: Collection[str], now: datetime, catalog: Catalog
) -> dict[str, RecordSnapshot]:
    """:func:`load_snapshot` for new check-ins (``readings=False``) of many patients at once:
    the day's temperatures, a year of check-ins and the therapy in two queries."""
    temperatures = _recent(session, patient_ids, "Observation", now - TEMPERATURE_WITHIN)
    responses = _recent(session, patient_ids, "QuestionnaireResponse", now - CHECKINS_LOOKBACK)
    therapies = resources_of_patients(
        session, patient_ids=patient_ids, resource_types=THERAPY_TYPES
    )
    return {
        pid: RecordSnapshot(
            patient_id=pid,
            readings=tuple(_temperatures(temperatures[pid])),
            checkins=tuple(_known_checkins(responses[pid], catalog)),
            active_therapy=active_therapy(therapies[pid], now=now),
        )
        for pid in patient_ids
    }
