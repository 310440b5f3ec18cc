"""The console's worklist actions on both databases: an action ends in a 303 to a fresh
page (htmx or not) that shows what changed, and a coordinator, who may not act on clinical
alerts, is told who does, on the worklist and on the patient page it links to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from careloop.clock import FrozenClock
from careloop.runtime import Runtime
from tests.careteam.test_careteam_api import OUTCOME, new_alerts
from tests.feedback.loop_payloads import add_patients, glucose

WHO_ACTS = "A clinician acknowledges, assigns and resolves this alert."


def _alert(rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any, pid: str) -> int:
    add_patients(rt, tmp_path, pid)
    reading = glucose(pid, 40, clock.now())
    nurse = api_client("clinician")
    [item, *_] = new_alerts(nurse.post("/fhir/Observation", json=reading, headers=OUTCOME))
    return int(item)


def test_an_assignment_ends_in_a_303_to_the_page_showing_the_new_holder(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    item = _alert(rt, clock, tmp_path, api_client, "wl-1")
    nurse = api_client("clinician")
    came_from = f"http://testserver/console/patients/wl-1#item-{item}"

    assigned = nurse.post(
        f"/console/worklist/{item}/assign",
        data={"assignee": "lead:oncology-nursing"},
        headers={"HX-Request": "true", "HX-Current-URL": came_from},
        follow_redirects=False,
    )

    assert assigned.status_code == 303
    assert assigned.headers["location"] == "/console/patients/wl-1"
    page = nurse.get(assigned.headers["location"])
    card = page.text.split(f'id="item-{item}"', 1)[1].split("</article>", 1)[0]
    assert 'data-testid="card-assignee">the oncology nursing lead<' in card
    acked = nurse.post(f"/console/worklist/{item}/acknowledge", follow_redirects=False)
    assert (acked.status_code, acked.headers["location"]) == (303, "/console/worklist")


def test_a_coordinator_is_told_who_acts_on_a_clinical_alert(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    item = _alert(rt, clock, tmp_path, api_client, "wl-2")
    coordinator = api_client("coordinator")

    for path in ("/console/worklist", "/console/patients/wl-2"):
        page = coordinator.get(path)
        assert page.status_code == 200, page.text
        card = page.text.split(f'id="item-{item}"', 1)[1].split("</article>", 1)[0]
        assert WHO_ACTS in card
        assert f"/console/worklist/{item}/resolve" not in card
    nurse_page = api_client("clinician").get("/console/patients/wl-2").text
    assert f"/console/worklist/{item}/resolve" in nurse_page
    assert WHO_ACTS not in nurse_page
