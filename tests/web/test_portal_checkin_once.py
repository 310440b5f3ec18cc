"""revi: today's check-in is asked once a day, but its last plain POST is taken again."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from careloop.models import FhirResource
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, patient
from tests.medications.conftest import add_resources, medication

Client = Callable[..., Any]


def _responses(rt: Runtime, patient_id: str) -> int:
    with rt.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    FhirResource.patient_id == patient_id,
                    FhirResource.resource_type == "QuestionnaireResponse",
                )
            )
            or 0
        )


def _walk(client: Any) -> dict[str, str]:
    """Answer every question as a page without scripts would (plain POSTs); returns the
    last form's fields, as a browser's Back would show them again."""
    page = client.get("/portal/checkin")
    assert page.status_code == 200, page.text
    fields: dict[str, str] = {}
    while True:
        html = page.text
        hidden = dict(re.findall(r'<input type="hidden" name="(a\.[^"]+)" value="([^"]*)"', html))
        index = re.search(r'name="index" value="(\d+)"', html)
        assert index, html
        option = re.search(r'name="answer"[^>]*value="([^"]+)"', html)
        assert option, html
        fields = {**hidden, "index": index.group(1), "answer": option.group(1)}
        page = client.post("/portal/checkin", data=fields, follow_redirects=False)
        if page.status_code != 200:
            return fields


def test_a_resent_last_step_does_not_store_a_second_checkin(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient("p-001", language="es")])
    add_resources(rt, "p-001", medication("MedicationRequest", "p-001-met", when=rt.clock.now()))
    client = api_client("patient", patient_id="p-001")
    last = _walk(client)
    assert _responses(rt, "p-001") == 1
    assert "checkin-answered" in client.get("/portal/checkin").text  # thanked, not asked

    again = client.post("/portal/checkin", data=last, follow_redirects=False)  # Back, Send

    assert (again.status_code < 500, _responses(rt, "p-001")) == (True, 1)
