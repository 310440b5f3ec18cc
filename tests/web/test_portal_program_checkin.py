"""A patient invited to a program's check-in (the oncology symptom check-in's email says
"Start here: <portal>/checkin") is asked that check-in's questions on the portal, on a phone
as on a computer; once answered, the page thanks them instead of asking again. Found walking
the demo: the link opened "No check-in is due for you today" for a patient on chemotherapy,
as the page only knew the medicines check-in."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from careloop.clock import FrozenClock
from careloop.models import Enrollment
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, patient

Client = Callable[..., Any]
PROGRAM = "oncology-symptom-checkin"


def _invited(rt: Runtime, clock: FrozenClock, patient_id: str) -> None:
    """The weekly check-in's invitation went out an hour ago (the journey's first step)."""
    sent = clock.now() - timedelta(hours=1)
    with rt.transaction() as session:
        session.add(
            Enrollment(
                patient_id=patient_id,
                program=PROGRAM,
                episode="2026",
                arm="outreach",
                state="contacted",
                next_step=1,
                last_step_at=sent,
                enrolled_at=sent,
                state_changed_at=sent,
            )
        )


def _answer_all(client: Any, first: Any) -> Any:
    page = first
    while True:
        html = page.text
        action = re.search(r'<form class="card question" method="post" action="([^"]+)"', html)
        assert action, html
        hidden = dict(re.findall(r'<input type="hidden" name="(a\.[^"]+)" value="([^"]*)"', html))
        index = re.search(r'name="index" value="(\d+)"', html)
        option = re.search(r'name="answer"[^>]*value="([^"]+)"', html)
        assert index, html
        assert option, html
        fields = {**hidden, "index": index.group(1), "answer": option.group(1)}
        page = client.post(action.group(1).replace("&amp;", "&"), data=fields)
        if "checkin-form" not in page.text:
            return page


def test_the_invitation_link_asks_the_programs_checkin(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient("p-onc")])
    _invited(rt, clock, "p-onc")
    client = api_client("patient", patient_id="p-onc")

    home = client.get("/portal")
    first = client.get("/portal/checkin")

    assert first.status_code == 200, first.text
    assert "No check-in is due" not in first.text
    assert "No check-in is due" not in home.text
    assert "Nausea (feeling sick to your stomach)" in first.text
    done = _answer_all(client, first)
    assert done.status_code == 200, done.text
    again = client.get("/portal/checkin")
    assert "checkin-form" not in again.text  # answered: thanked, not asked again


def test_without_an_invitation_a_patient_without_medicines_has_nothing_due(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient("p-none")])
    client = api_client("patient", patient_id="p-none")

    assert "No check-in is due" in client.get("/portal/checkin").text
