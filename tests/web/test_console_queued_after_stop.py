"""A text queued in the patient's night, then the patient texts STOP. The worker will drop it
at dispatch (``claims.refused_now``: consent withdrawn), but the console's messaging panel
(nurse branch, ``words.queued_words``) tells the nurse "Queued — goes out at 08:00
(patient's morning)": she believes the patient will read it and does not phone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from careloop.governance.consent import opt_out_channel
from careloop.outreach.messages import queue_staff_message
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, patient

ApiClient = Callable[..., Any]


def test_a_queued_text_after_stop_does_not_promise_a_send(
    rt: Runtime, tmp_path: Path, api_client: ApiClient
) -> None:
    # 14:00 UTC is 23:00 in Tokyo: inside the default quiet hours (21:00-08:00).
    import_resources(rt, tmp_path, [patient("p-001", zone="Asia/Tokyo")])
    with rt.transaction() as session:
        queue_staff_message(
            session,
            patient_id="p-001",
            body="Please call us about your results.",
            channel="sms",
            clock=rt.clock,
            actor="user:1",
        )
        opt_out_channel(
            session,
            patient_id="p-001",
            channel="sms",
            source="sms-keyword",
            actor="patient",
            now=rt.clock.now(),
        )

    page = api_client("clinician").get("/console/patients/p-001")

    assert page.status_code == 200, page.text
    assert "goes out at 08:00" not in page.text
    assert "will not go out" in page.text.lower()
