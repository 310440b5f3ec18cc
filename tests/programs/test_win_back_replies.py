"""The win-back reason from the patient's replies as well as the record (issue 25 item 1).

End to end on both databases: real replies through the reply router (a visit booked and then
cancelled by text, a free-text "no ride"), then the win-back program run. Replies are read
only as codes on the ``replied`` events: their words are in no event.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from tests.access import test_booking
from tests.access.fhir_fixtures import import_resources, patient

from careloop.clock import FrozenClock
from careloop.events import EventKind
from careloop.models import Event
from careloop.programs.definition import LIBRARY_DIR, find_program
from careloop.programs.reply_reasons import reasons_from
from careloop.programs.service import run_program
from careloop.runtime import Runtime

NOSHOW_REASON = "lapsed after a missed appointment (no visit since)"


def _old_visit(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"{pid}-visit",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": "2024-06-01T09:00:00Z", "end": "2024-06-01T09:30:00Z"},
    }


def _noshow(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": f"{pid}-noshow",
        "status": "noshow",
        "start": "2024-09-10T09:00:00Z",
        "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
    }


def _lapsed_patients_who_replied(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    """p-001 missed a visit in 2024 and has not been back; on 2 Mar she books a visit from a
    text and cancels it by text, on 5 Mar she writes that she has no ride. p-002 is as lapsed
    and has never replied."""
    test_booking._seed(rt, tmp_path / "seed")
    import_resources(
        rt,
        tmp_path / "history",
        [_old_visit("p-001"), _noshow("p-001"), patient("p-002"), _old_visit("p-002")],
    )
    test_booking._offer_and_deliver(rt, clock)
    assert test_booking._reply(rt, clock, "1", "SM-1") == "booked"
    assert test_booking._reply(rt, clock, "cancel visit", "SM-2") == "visit-cancelled"
    clock.advance(timedelta(days=3))
    assert test_booking._reply(rt, clock, "I have no ride to get there", "SM-3") == (
        "care-team-inbox"
    )


def _eligible_payloads(rt: Runtime, program: str) -> dict[str, dict[str, Any]]:
    with rt.transaction() as session:
        rows = session.execute(
            select(Event.patient_id, Event.payload)
            .where(Event.kind == str(EventKind.ELIGIBLE), Event.program == program)
            .order_by(Event.id)
        ).all()
    return {str(pid): dict(payload) for pid, payload in rows}


def test_win_back_reason_names_the_replies_most_recent_first(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _lapsed_patients_who_replied(rt, clock, tmp_path)

    with rt.transaction() as session:
        run = run_program(session, program=find_program("win-back-lapsed"), now=clock.now())

    reasons = {e.patient_id: e.reason for e in run.eligible}
    assert reasons["p-001"] == (
        f"{NOSHOW_REASON}; in their replies: no ride (5 Mar), cancelled a visit by text (2 Mar)"
    )
    assert reasons["p-002"] == "no visit in the 12 months before 2026-03-05"
    payloads = _eligible_payloads(rt, "win-back-lapsed")
    assert payloads["p-001"]["reply_reasons"] == ["transportation", "cancelled-by-reply"]
    assert payloads["p-001"]["care_gap"]["gap"] == "missed_appointment"  # the record's, unchanged
    assert payloads["p-001"]["reason"] == reasons["p-001"]
    assert "reply_reasons" not in payloads["p-002"]

    with rt.transaction() as session:
        again = run_program(session, program=find_program("win-back-lapsed"), now=clock.now())
    assert again.events_recorded == 0


def test_replies_keep_codes_never_words(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    _lapsed_patients_who_replied(rt, clock, tmp_path)
    with rt.transaction() as session:
        run_program(session, program=find_program("win-back-lapsed"), now=clock.now())
        rows = session.execute(select(Event.kind, Event.payload)).all()

    replied = [payload for kind, payload in rows if kind == str(EventKind.REPLIED)]
    evidence = [(p["handled_as"], p["barriers"]) for p in replied]
    assert evidence == [
        ("booked", []),
        ("visit-cancelled", []),
        ("care-team-inbox", ["transportation"]),
    ]
    everything = json.dumps([payload for _, payload in rows], default=str).lower()
    for words in ("no ride to get there", "cancel visit", "have no ride"):
        assert words not in everything


def test_a_program_without_the_option_ignores_replies(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _lapsed_patients_who_replied(rt, clock, tmp_path)
    folder = tmp_path / "programs"
    folder.mkdir()
    definition = yaml.safe_load((LIBRARY_DIR / "win-back-lapsed.yaml").read_text())
    assert definition["reasons_from_replies"] is True
    definition["reasons_from_replies"] = False
    (folder / "win-back-lapsed.yaml").write_text(yaml.safe_dump(definition))

    with rt.transaction() as session:
        run = run_program(
            session, program=find_program("win-back-lapsed", folder=folder), now=clock.now()
        )

    assert {e.patient_id: e.reason for e in run.eligible}["p-001"] == NOSHOW_REASON
    assert "reply_reasons" not in _eligible_payloads(rt, "win-back-lapsed")["p-001"]


def _on(day: int) -> datetime:
    return datetime(2026, 2, day, 9, tzinfo=UTC)


def test_at_most_three_reasons_each_once_at_its_latest_date() -> None:
    found = reasons_from(
        [
            (_on(1), {"handled_as": "reschedule", "barriers": [], "channel": "sms"}),
            (_on(9), {"handled_as": "care-team-inbox", "barriers": ["cost"], "channel": "sms"}),
            (_on(3), {"handled_as": "care-team-inbox", "barriers": ["time"], "channel": "sms"}),
            (_on(2), {"handled_as": "care-team-inbox", "barriers": ["cost"], "channel": "sms"}),
            (_on(4), {"handled_as": "opted-out", "barriers": [], "channel": "email"}),
            (_on(8), {"keyword": "checkin-answer"}),  # a check-in answer says nothing
        ]
    )
    assert found is not None
    assert found.codes == ("cost", "opted-out", "time")
    assert found.clause == (
        "in their replies: the cost (9 Feb), opted out by email (4 Feb), work or no time (3 Feb)"
    )
    assert reasons_from([(_on(8), {"handled_as": "confirmed", "barriers": []})]) is None
