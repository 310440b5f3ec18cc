"""Readings posted concurrently to ``/fhir`` are group-committed (PostgreSQL): none lost,
each alert raised exactly once, a refused one undoing only itself."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from careloop.clock import FrozenClock
from careloop.events import list_events
from careloop.models import WorklistItem
from careloop.records.resources import get_resource
from tests.feedback.loop_payloads import blood_pressure, diary, glucose
from tests.fhir.conftest import FhirServer, add_patients

# SQLite has one writer and commits each request on its own; group commit is PostgreSQL's.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_concurrent_readings_are_all_stored_and_each_crisis_alerts_exactly_once(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    patients = [f"conc-{n}" for n in range(12)]
    add_patients(fhir_server.rt, tmp_path, *patients)
    now = clock.now()
    crises = [blood_pressure(p, 194, 106, now, obs_id=f"crisis-{p}") for p in patients]
    normal = [glucose(p, 104, now) for p in patients for _ in range(3)]
    # every crisis is sent twice, at once: the second is a duplicate, not a second alert
    sent = [*crises, *normal, *crises]
    token = fhir_server.token("clinician")

    def post(body: dict[str, object]) -> int:
        with httpx.Client(
            base_url=fhir_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            return http.post("/Observation", json=body).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(post, sent))

    with fhir_server.rt.transaction() as session:
        stored = [
            get_resource(session, resource_type="Observation", fhir_id=str(body["id"]))
            for body in [*crises, *normal]
        ]
        received = list_events(session, kinds=["reading_received"])
        alerts = session.execute(
            select(WorklistItem.patient_id, func.count())
            .where(WorklistItem.rule_id == "bp-crisis")
            .group_by(WorklistItem.patient_id)
        ).all()
    assert all(s is not None for s in stored)  # nothing acknowledged was lost
    assert len(received) == len(crises) + len(normal)  # each reading received once
    assert sorted(alerts) == sorted((p, 1) for p in patients)  # one alert per crisis
    assert (codes.count(201), codes.count(200)) == (len(crises) + len(normal), len(crises))


def test_a_refused_reading_in_a_busy_moment_undoes_only_itself(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "busy-1")
    now = clock.now()
    good = [glucose("busy-1", 100 + n, now) for n in range(8)]
    bad = {**glucose("busy-1", 100, now), "status": "cancelled"}
    token = fhir_server.token("clinician")

    def post(body: dict[str, object]) -> httpx.Response:
        with httpx.Client(
            base_url=fhir_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            return http.post("/Observation", json=body)

    with ThreadPoolExecutor(max_workers=9) as pool:
        answers = list(pool.map(post, [*good[:4], bad, *good[4:]]))

    assert [a.status_code for a in answers] == [201] * 4 + [422] + [201] * 4
    assert answers[4].json()["issue"][0]["expression"] == ["status"]
    with fhir_server.rt.transaction() as session:
        assert len(list_events(session, kinds=["reading_received"])) == 8
        assert len(list_events(session, kinds=["reading_rejected"])) == 1


def test_concurrent_check_ins_each_alert_exactly_once(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    patients = [f"diary-{n}" for n in range(8)]
    add_patients(fhir_server.rt, tmp_path, *patients)
    now = clock.now()
    sent = [diary(p, {"nausea": 4}, now) for p in patients]
    sent += [diary(p, {"pain": 1}, now) for p in patients for _ in range(2)]
    token = fhir_server.token("clinician")

    def post(body: dict[str, object]) -> int:
        with httpx.Client(
            base_url=fhir_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            return http.post("/QuestionnaireResponse", json=body).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(post, sent))

    with fhir_server.rt.transaction() as session:
        submitted = list_events(session, kinds=["checkin_submitted"])
        alerts = session.execute(
            select(WorklistItem.patient_id, WorklistItem.occurrences).where(
                WorklistItem.rule_id == "symptom-grade-4"
            )
        ).all()
    assert codes == [201] * len(sent)
    assert len(submitted) == len(sent)  # every acknowledged check-in is in the record
    assert sorted(alerts) == sorted((p, 1) for p in patients)
