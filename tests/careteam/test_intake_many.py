"""The set-wise batch of readings (``careteam.intake_many``) against the reading-by-reading
path it replaces on the group-commit routes: the same alerts, rows, events and answers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.careteam import intake, intake_checkins, intake_many
from careloop.careteam.intake_batch import IntakeBatcher, _Job
from careloop.clock import FrozenClock
from careloop.errors import InvalidInput
from careloop.events import list_events
from careloop.feedback.catalog import default_catalog
from careloop.models import AuditEvent, WorklistItem
from careloop.records.resources import get_resource
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from tests.feedback.loop_payloads import (
    add_patients,
    blood_pressure,
    diary,
    glucose,
    temperature,
    weight,
)

NURSE = Principal(actor="user:nurse", role=Role.CLINICIAN, source="api")
GATEWAY = Principal(actor="user:gateway", role=Role.CLINICIAN, source="api")
CATALOG = default_catalog()


def _history(clock: FrozenClock) -> list[dict[str, Any]]:
    """Readings whose alerts depend on earlier readings of the same batch."""
    now = clock.now()
    return [
        weight("hf-1", 80.0, now - timedelta(hours=20)),
        glucose("plain-1", 104, now),
        weight("hf-1", 82.5, now - timedelta(hours=1)),  # +2.5 kg in 19 h: heart failure
        blood_pressure("plain-1", 192, 104, now, obs_id="crisis-plain-1"),
        blood_pressure("plain-2", 188, 101, now - timedelta(minutes=5)),
        blood_pressure("plain-2", 191, 102, now),  # a second crisis: same open alert
        weight("plain-2", 70.0, now - timedelta(hours=20)),
        weight("plain-2", 73.0, now),  # no heart failure: no alert
    ]


def _alerts(rt: Runtime) -> list[tuple[str, str, int]]:
    with rt.transaction() as session:
        rows = session.execute(
            select(WorklistItem.patient_id, WorklistItem.rule_id, WorklistItem.occurrences)
        ).all()
    return sorted((p, r, n) for p, r, n in rows)


@pytest.mark.parametrize("batched", [False, True])
def test_a_batch_raises_what_reading_by_reading_raises(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, batched: bool
) -> None:
    add_patients(rt, tmp_path, "hf-1", "plain-1", "plain-2", heart_failure=("hf-1",))
    readings = _history(clock)
    with rt.transaction() as session:
        if batched:
            outcomes = intake_many.receive_observations(
                session,
                [intake_many.Submitted(r, NURSE, "fhir") for r in readings],
                clock=clock,
            )
            new_alerts = [
                o.result.new_alerts for o in outcomes if isinstance(o, intake_many.Received)
            ]
        else:
            results = [
                intake.receive_observation(session, r, clock=clock, principal=NURSE, source="fhir")
                for r in readings
            ]
            new_alerts = [r.new_alerts for r in results]
    # the expectation is the per-reading path's, and the batch must give the same
    assert _alerts(rt) == [
        ("hf-1", "hf-weight-gain-2kg-2d", 1),
        ("plain-1", "bp-crisis", 1),
        ("plain-2", "bp-crisis", 2),
    ]
    assert [bool(a) for a in new_alerts] == [False, False, True, True, True, False, False, False]
    with rt.transaction() as session:
        assert len(list_events(session, kinds=["reading_received"])) == len(readings)
        assert all(
            get_resource(session, resource_type="Observation", fhir_id=str(r["id"]))
            for r in readings
        )


def test_a_batch_answers_each_reading_and_audits_each_submitter_and_patient(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "p-1", "p-2")
    now = clock.now()
    stored = glucose("p-1", 101, now)
    changed = glucose("p-2", 99, now)
    with rt.transaction() as session:
        intake.receive_observation(session, stored, clock=clock, principal=NURSE, source="fhir")
        intake.receive_observation(session, changed, clock=clock, principal=NURSE, source="fhir")
    twice = glucose("p-2", 120, now)
    inputs = [
        intake_many.Submitted(glucose("p-1", 110, now), NURSE, "fhir"),
        intake_many.Submitted(stored, GATEWAY, "fhir"),  # re-sent as it was: a duplicate
        intake_many.Submitted({**glucose("p-1", 1, now), "status": "cancelled"}, NURSE, "fhir"),
        intake_many.Submitted(glucose("nobody", 100, now), NURSE, "fhir"),
        intake_many.Submitted({**changed, "status": "amended"}, NURSE, "fhir"),  # an update
        intake_many.Submitted(twice, NURSE, "fhir"),
        intake_many.Submitted(twice, GATEWAY, "fhir"),  # the same id twice in one batch
        intake_many.Submitted(glucose("p-2", 130, now), GATEWAY, "fhir"),
    ]
    with rt.transaction() as session:
        audit_before = session.query(AuditEvent).count()
        outcomes = intake_many.receive_observations(session, inputs, clock=clock)
    taken, duplicate, cancelled, nobody, update, first, second, other = outcomes
    assert isinstance(taken, intake_many.Received)
    assert taken.result.status == "accepted"
    assert isinstance(duplicate, intake_many.Received)
    assert duplicate.result.status == "duplicate"
    assert isinstance(cancelled, InvalidInput)
    assert cancelled.field == "status"
    assert isinstance(nobody, InvalidInput)
    assert nobody.field == "subject"
    assert (update, first, second) == (None, None, None)  # left to the per-reading path
    assert isinstance(other, intake_many.Received)
    assert other.last_updated == now
    assert taken.resource["id"] == inputs[0].resource["id"]
    with rt.transaction() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[audit_before:]
        received = list_events(session, kinds=["reading_received"])
    # one row per (submitter, patient) written: the nurse for p-1, the gateway for p-2
    assert sorted((r.actor, r.patient_id, r.action) for r in rows) == [
        ("user:gateway", "p-2", "create"),
        ("user:nurse", "p-1", "create"),
    ]
    assert len(received) == 2 + 2  # the two stored before, the two new ones


@pytest.mark.parametrize("batched", [False, True])
def test_check_ins_in_a_batch_raise_what_one_by_one_raises(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, batched: bool
) -> None:
    add_patients(rt, tmp_path, "onc-1", "onc-2")
    now = clock.now()
    responses = [
        diary("onc-1", {"nausea": 1}, now - timedelta(hours=2)),
        diary("onc-1", {"nausea": 4}, now - timedelta(hours=1)),  # grade 4: urgent
        diary("onc-2", {"pain": 2}, now),
        diary("onc-2", {"pain": 4}, now),
    ]
    with rt.transaction() as session:
        if batched:
            outcomes = intake_checkins.receive_checkins(
                session, [intake_many.Submitted(r, NURSE, "fhir") for r in responses], clock=clock
            )
            assert all(isinstance(o, intake_many.Received) for o in outcomes)
        else:
            for r in responses:
                intake.receive_questionnaire_response(
                    session, r, clock=clock, principal=NURSE, source="fhir"
                )
    assert _alerts(rt) == [("onc-1", "symptom-grade-4", 1), ("onc-2", "symptom-grade-4", 1)]
    with rt.transaction() as session:
        events = list_events(session, kinds=["checkin_submitted"])
        stored = get_resource(
            session, resource_type="QuestionnaireResponse", fhir_id=str(responses[1]["id"])
        )
    assert len(events) == len(responses)
    assert [(e.patient_id, e.payload["answered"]) for e in events] == [
        ("onc-1", 12),
        ("onc-1", 12),
        ("onc-2", 12),
        ("onc-2", 12),
    ]
    assert stored is not None
    assert stored["item"][0]["linkId"] == "nausea"


def test_the_batcher_takes_items_together_and_leaves_the_rest_to_their_own_work(
    rt: Runtime,
) -> None:
    seen: list[list[Any]] = []

    def bulk(session: Session, items: list[Any]) -> list[tuple[bool, Any] | None]:
        seen.append(items)
        return [None if item == "alone" else (True, f"bulk:{item}") for item in items]

    batcher = IntakeBatcher(rt.transaction, bulk=bulk)
    jobs = [
        _Job(lambda _s: "work:a", "a"),
        _Job(lambda _s: "work:alone", "alone"),
        _Job(lambda _s: "work:plain"),
    ]
    batcher.run_batch(jobs)
    assert seen == [["a", "alone"]]  # one call for the batch's items
    assert [j.future.result(1) for j in jobs] == ["bulk:a", "work:alone", "work:plain"]

    def broken(session: Session, items: list[Any]) -> list[tuple[bool, Any] | None]:
        raise RuntimeError("the set-wise path failed")

    batcher = IntakeBatcher(rt.transaction, bulk=broken)
    jobs = [_Job(lambda _s: "work:a", "a"), _Job(lambda _s: "work:b", "b")]
    batcher.run_batch(jobs)
    assert [j.future.result(1) for j in jobs] == ["work:a", "work:b"]  # nothing lost


@pytest.mark.parametrize("batched", [False, True])
def test_a_check_in_sees_the_temperature_posted_in_its_batch(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, batched: bool
) -> None:
    """Readings and check-ins of one batch are written together (``receive_inputs``), yet a
    reported fever still shows the temperature the same batch brought, as when the reading
    was stored first."""
    add_patients(rt, tmp_path, "onc-3")
    now = clock.now()
    inputs = [
        diary("onc-3", {"pain": 1}, now - timedelta(hours=3)),
        temperature("onc-3", 37.6, now - timedelta(hours=1)),
        diary("onc-3", {"fever-chills": 3}, now),
    ]
    with rt.transaction() as session:
        if batched:
            submitted = [intake_many.Submitted(r, NURSE, "fhir") for r in inputs]
            outcomes = intake_checkins.receive_inputs(session, submitted, clock=clock)
            assert [o.result.resource_type for o in outcomes if o is not None] == [
                "QuestionnaireResponse",
                "Observation",
                "QuestionnaireResponse",
            ]
        else:
            for r in inputs:
                intake.receive_resource(
                    session, r, clock=clock, principal=NURSE, source="fhir", catalog=CATALOG
                )
    with rt.transaction() as session:
        (item,) = session.scalars(select(WorklistItem)).all()
        audit = session.scalars(select(AuditEvent).where(AuditEvent.patient_id == "onc-3")).all()
        kinds = [e.kind for e in list_events(session, patient_id="onc-3")]
    assert item.rule_id == "symptom-emergency"
    assert "temperature 37.6 °C" in str(item.findings)
    assert kinds.count("reading_received") == 1
    assert kinds.count("checkin_submitted") == 2
    assert len([a for a in audit if a.action == "create"]) == (1 if batched else 3)
