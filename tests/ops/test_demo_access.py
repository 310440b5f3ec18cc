"""``careloop demo`` step 8 tells John's story (issue 17, item 8) on both databases: his care
gap is found, the times offered are after 3:30 pm on his wife's days, a reply "1" books the
first, and no ride is needed because she drives; Ruth, with nobody to drive her, gets a ride.
The report then shows the access figures of their programs (item 7)."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta

from rich.console import Console

from careloop.access.directory import places_of
from careloop.cli.demo_access import PEOPLE, step_access
from careloop.cli.demo_run import DemoReport
from careloop.insights.report import build_report
from careloop.runtime import Runtime
from tests.outreach.conftest import sync_content


def test_johns_gap_is_offered_after_his_wifes_work_and_booked_by_a_reply(rt: Runtime) -> None:
    sync_content(rt)
    printed = io.StringIO()
    report = DemoReport(database="test")

    step_access(rt, Console(file=printed, width=200), report)

    john, ruth = (
        next(s for s in report.sections["access"]["stories"] if s["patient"] == PEOPLE[who])
        for who in ("john", "ruth")
    )
    assert john["gap"]["program"] == "colorectal-cancer-screening"
    assert ruth["gap"]["program"] == "breast-cancer-screening"
    for offered in john["offered"]:
        start = datetime.fromisoformat(offered["start"])
        assert start.weekday() < 5, offered  # his wife's days
        assert start.time() >= time(15, 30), offered  # after her work
        assert (offered["mode"], offered["ride"]) == ("in-person", False)
    assert john["reply"] == "booked"
    assert john["booked"] == {"slot": john["offered"][0]["slot"], "ride": False}
    assert ruth["reply"] == "booked"
    assert ruth["booked"]["ride"] is True
    assert report.sections["access"]["rides_requested"] == 1

    shown = printed.getvalue()
    assert "John Miller" in shown
    assert "Ruth Alvarez" in shown
    assert "no ride: his wife drives" in shown

    now = rt.clock.now()
    with rt.transaction() as session:
        figures = build_report(session, start=now - timedelta(days=1), end=now + timedelta(days=1))
    access = {p["program"]: p["access"] for p in figures["programs"] if "access" in p}
    assert set(access) == {"colorectal-cancer-screening", "breast-cancer-screening"}
    assert access["colorectal-cancer-screening"]["conversion_per_offer"] == 1.0


def test_the_demo_clinics_times_say_which_service_they_are_for(rt: Runtime) -> None:
    """The portal listed "Tuesday 8 December, 2:00 PM — Main clinic" twice, once for a
    colonoscopy and once for a mammogram, with nothing to tell them apart."""
    sync_content(rt)
    report = DemoReport(database="test")
    step_access(rt, Console(file=io.StringIO(), width=200), report)
    slots = [s["offered"][0]["slot"] for s in report.sections["access"]["stories"]]
    with rt.transaction() as session:
        places = places_of(session, slots)
    named = sorted((places[s].service_in("en"), places[s].service_in("es")) for s in slots)
    assert named == [("Colonoscopy", "Colonoscopia"), ("Mammogram", "Mamografía")]
