"""The slot finder on both databases: caregiver window, transport, busy slots, zones and DST."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from careloop.access.finder import PatientDay, SlotCandidate, rank_offers
from careloop.access.service import find_offers
from careloop.cli import app
from careloop.models import FhirResource
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import (
    caregiver,
    import_resources,
    location,
    patient,
    schedule,
    slot,
    transport_screen,
)

runner = CliRunner()
NY = "America/New_York"


def _utc(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _offers(rt: Runtime, pid: str, **kwargs: object) -> list[dict[str, object]]:
    with rt.transaction() as session:
        found = find_offers(session, patient_id=pid, now=rt.clock.now(), **kwargs)  # type: ignore[arg-type]
    return [o.as_json() for o in found]


def _clinic(*slots: dict[str, object]) -> list[dict[str, object]]:
    return [location(), schedule("sch-1"), schedule("sch-video", virtual=True), *slots]


def test_johns_offers_fit_his_wifes_afternoons(rt: Runtime, tmp_path: Path) -> None:
    # Tue 3 March 2026 (EST, UTC-5): 14:00, 15:00, 15:45 and 16:30 local; Sat 10:00 local.
    resources = [
        patient("john"),
        caregiver("john", "john-wife"),
        *_clinic(
            slot("s-1400", schedule_id="sch-1", start=_utc(3, 19)),
            slot("s-1500", schedule_id="sch-1", start=_utc(3, 20)),
            slot("s-1545", schedule_id="sch-1", start=_utc(3, 20, 45)),
            slot("s-1630", schedule_id="sch-1", start=_utc(3, 21, 30)),
            slot("s-sat", schedule_id="sch-1", start=_utc(7, 15)),
        ),
    ]
    import_resources(rt, tmp_path, resources)

    offers = _offers(rt, "john", limit=10)

    assert [o["slot"] for o in offers] == ["s-1545", "s-1630"]
    assert all(o["mode"] == "in-person" and o["ride"] is False for o in offers)
    assert offers[0]["start"] == "2026-03-03T15:45:00-05:00"
    assert "your wife is free to come with you" in str(offers[0]["why"])


def test_a_patient_without_a_driver_gets_a_ride_or_a_video_visit(
    rt: Runtime, tmp_path: Path
) -> None:
    resources = [
        patient("mary"),
        transport_screen("mary", when=_utc(1, 12, month=2)),
        *_clinic(
            slot("s-in", schedule_id="sch-1", start=_utc(3, 15)),
            slot("s-video", schedule_id="sch-video", start=_utc(4, 15)),
        ),
    ]
    import_resources(rt, tmp_path, resources)

    offers = _offers(rt, "mary")

    assert [(o["slot"], o["mode"], o["ride"]) for o in offers] == [
        ("s-video", "telehealth", False),
        ("s-in", "in-person", True),
    ]
    assert "ride" in str(offers[1]["why"])


def test_a_no_to_the_transport_question_needs_no_ride(rt: Runtime, tmp_path: Path) -> None:
    resources = [
        patient("ana"),
        transport_screen("ana", when=_utc(1, 12, month=2), answer="LA32-8"),
        *_clinic(slot("s-in", schedule_id="sch-1", start=_utc(3, 15))),
    ]
    import_resources(rt, tmp_path, resources)

    assert [(o["slot"], o["ride"]) for o in _offers(rt, "ana")] == [("s-in", False)]


def test_outside_the_caregivers_window_only_with_a_ride_when_transport_is_needed(
    rt: Runtime, tmp_path: Path
) -> None:
    resources = [
        patient("john"),
        caregiver("john", "john-wife"),
        transport_screen("john", when=_utc(1, 12, month=2)),
        *_clinic(
            slot("s-morning", schedule_id="sch-1", start=_utc(3, 15)),
            slot("s-late", schedule_id="sch-1", start=_utc(3, 21)),
        ),
    ]
    import_resources(rt, tmp_path, resources)

    offers = _offers(rt, "john")

    assert [(o["slot"], o["ride"]) for o in offers] == [("s-late", False), ("s-morning", True)]


def test_a_caregiver_marked_as_not_accompanying_does_not_limit_the_times(
    rt: Runtime, tmp_path: Path
) -> None:
    resources = [
        patient("lee"),
        caregiver("lee", "lee-son", relationship="son", accompanies=False),
        *_clinic(slot("s-morning", schedule_id="sch-1", start=_utc(3, 15))),
    ]
    import_resources(rt, tmp_path, resources)

    assert [o["slot"] for o in _offers(rt, "lee")] == ["s-morning"]


def test_busy_slots_are_never_offered_and_a_reimport_keeps_slots_current(
    rt: Runtime, tmp_path: Path
) -> None:
    resources = [
        patient("kim"),
        *_clinic(
            slot("s-free", schedule_id="sch-1", start=_utc(3, 15)),
            slot("s-busy", schedule_id="sch-1", start=_utc(3, 16), status="busy"),
            slot("s-unavail", schedule_id="sch-1", start=_utc(3, 17), status="busy-unavailable"),
            slot("s-tent", schedule_id="sch-1", start=_utc(3, 18), status="busy-tentative"),
            slot("s-soon", schedule_id="sch-1", start=_utc(2, 14, 30)),
        ),
    ]
    import_resources(rt, tmp_path, resources)
    assert [o["slot"] for o in _offers(rt, "kim", limit=10)] == ["s-free"]

    # The EHR's next export: the free slot was booked there, another one freed.
    import_resources(
        rt,
        tmp_path / "again",
        [
            slot("s-free", schedule_id="sch-1", start=_utc(3, 15), status="busy"),
            slot("s-busy", schedule_id="sch-1", start=_utc(3, 16)),
        ],
    )
    assert [o["slot"] for o in _offers(rt, "kim", limit=10)] == ["s-busy"]
    with rt.transaction() as session:
        row = session.get(FhirResource, ("Slot", "s-busy"))
        assert row is not None
        assert (row.supported, row.status) == (True, "free")
        assert row.effective_start == _utc(3, 16)
        kinds = set(session.scalars(select(FhirResource.resource_type)))
    assert {"Schedule", "Slot", "Location"} <= kinds


def test_daylight_saving_time_moves_the_utc_slots_that_fit(rt: Runtime, tmp_path: Path) -> None:
    # US clocks spring forward on Sunday 8 March 2026: 20:00 UTC is 15:00 EST before and
    # 16:00 EDT after; the wife's window starts at 15:30 local on both sides.
    resources = [
        patient("john"),
        caregiver("john", "john-wife"),
        *_clinic(
            slot("fri-2000", schedule_id="sch-1", start=_utc(6, 20)),
            slot("fri-2030", schedule_id="sch-1", start=_utc(6, 20, 30)),
            slot("mon-2000", schedule_id="sch-1", start=_utc(9, 20)),
            slot("mon-1930", schedule_id="sch-1", start=_utc(9, 19, 30)),
        ),
    ]
    import_resources(rt, tmp_path, resources)

    offers = _offers(rt, "john", limit=10)

    assert {o["slot"]: o["start"] for o in offers} == {
        "fri-2030": "2026-03-06T15:30:00-05:00",
        "mon-2000": "2026-03-09T16:00:00-04:00",
        "mon-1930": "2026-03-09T15:30:00-04:00",
    }


def test_the_patients_own_zone_reads_the_window(rt: Runtime, tmp_path: Path) -> None:
    # The same UTC slot is 15:45 in New York and 12:45 in Los Angeles.
    resources = [
        patient("west", zone="America/Los_Angeles"),
        caregiver("west", "west-wife"),
        *_clinic(slot("s-1", schedule_id="sch-1", start=_utc(3, 20, 45))),
    ]
    import_resources(rt, tmp_path, resources)

    assert _offers(rt, "west") == []


def test_the_cli_prints_the_contract(rt: Runtime, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    base = datetime.combine(today + timedelta(days=7), datetime.min.time(), tzinfo=UTC)
    monday = base + timedelta(days=(7 - base.weekday()) % 7)
    resources = [
        patient("john"),
        caregiver("john", "john-wife"),
        *_clinic(
            slot("s-fits", schedule_id="sch-1", start=monday + timedelta(hours=21)),
            slot("s-early", schedule_id="sch-1", start=monday + timedelta(hours=14)),
        ),
    ]
    import_resources(rt, tmp_path, resources)

    result = runner.invoke(
        app,
        [
            "schedule", "offer", "john", "--service", "mammography",
            "--from", (monday - timedelta(days=1)).date().isoformat(), "--days", "5",
            "--limit", "3", "--database", rt.settings.database_url, "--json",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    offers = json.loads(result.stdout)
    assert [o["slot"] for o in offers] == ["s-fits"]
    assert set(offers[0]) == {"slot", "start", "end", "mode", "ride", "why"}
    assert datetime.fromisoformat(offers[0]["start"]).utcoffset() is not None

    other = runner.invoke(
        app,
        ["schedule", "offer", "john", "--service", "dermatology",
         "--database", rt.settings.database_url, "--json"],
    )  # fmt: skip
    assert other.exit_code == 2
    assert "known services: mammography" in other.stderr


def test_bad_input_is_one_line_naming_the_field(rt: Runtime) -> None:
    url = rt.settings.database_url
    bad_day = runner.invoke(app, ["schedule", "offer", "x", "--from", "soon", "--database", url])
    assert bad_day.exit_code == 2
    assert "--from" in bad_day.stderr
    assert "Traceback" not in bad_day.stderr
    unknown = runner.invoke(app, ["schedule", "offer", "nobody", "--database", url, "--json"])
    assert unknown.exit_code == 2
    assert "no such patient" in unknown.stderr
    too_many = runner.invoke(app, ["schedule", "offer", "x", "--days", "500", "--database", url])
    assert too_many.exit_code == 2
    assert "days" in too_many.stderr


def test_the_why_counts_days_on_the_patients_calendar() -> None:
    """Saturday 3:40 pm in New York: Monday is "in 2 days", not "tomorrow" (1.9 days away);
    a slot this evening is "today"; Sunday morning is "tomorrow"."""
    now = datetime(2026, 12, 5, 20, 40, tzinfo=UTC)
    slots = [
        SlotCandidate("tonight", now + timedelta(hours=3), now + timedelta(hours=3, minutes=30)),
        SlotCandidate(
            "sun", datetime(2026, 12, 6, 15, tzinfo=UTC), datetime(2026, 12, 6, 16, tzinfo=UTC)
        ),
        SlotCandidate(
            "mon", datetime(2026, 12, 7, 19, tzinfo=UTC), datetime(2026, 12, 7, 20, tzinfo=UTC)
        ),
        SlotCandidate(
            "tue", datetime(2026, 12, 8, 20, tzinfo=UTC), datetime(2026, 12, 8, 21, tzinfo=UTC)
        ),
    ]

    offers = rank_offers(slots, PatientDay(timezone=NY), now=now, limit=4)

    assert {o.slot: o.why for o in offers} == {
        "tonight": "Sat 6:40 pm: today",
        "sun": "Sun 10:00 am: tomorrow",
        "mon": "Mon 2:00 pm: in 2 days",
        "tue": "Tue 3:00 pm: in 3 days",
    }


def test_a_day_the_patient_is_likelier_to_miss_ranks_lower() -> None:
    """The no-show model's risk for each day (a booking made now) weighs in the ranking: a day
    with 30 points more risk loses to one two days later; without a risk, sooner wins."""
    now = datetime(2026, 3, 2, 14, tzinfo=UTC)  # Monday
    tue, thu = datetime(2026, 3, 3, 15, tzinfo=UTC), datetime(2026, 3, 5, 15, tzinfo=UTC)
    slots = [
        SlotCandidate("tue", tue, tue + timedelta(minutes=30)),
        SlotCandidate("thu", thu, thu + timedelta(minutes=30)),
    ]
    risky_tuesday = PatientDay(timezone=NY, noshow_risk={tue.date(): 0.45, thu.date(): 0.15})

    assert [o.slot for o in rank_offers(slots, PatientDay(timezone=NY), now=now, limit=2)] == [
        "tue",
        "thu",
    ]
    assert [o.slot for o in rank_offers(slots, risky_tuesday, now=now, limit=2)] == ["thu", "tue"]
