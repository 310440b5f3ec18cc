"""A call in the patient's inbox reads "We called you", not "We wrote to you (Phone call)",
in each of the portal's languages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from careloop.outreach.states import OutboxState
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, patient
from tests.web.test_portal_walk import _queue, _text


@pytest.mark.parametrize(
    ("language", "called", "wrote"),
    [
        ("en", "We called you", "We wrote to you (text message)"),
        ("es", "Le llamamos", "Le escribimos (mensaje de texto)"),
    ],
)
def test_a_call_reads_as_a_call_and_a_text_as_writing(
    rt: Runtime,
    tmp_path: Path,
    api_client: Callable[..., Any],
    language: str,
    called: str,
    wrote: str,
) -> None:
    import_resources(rt, tmp_path, [patient("p-001", language=language)])
    _queue(rt, "voice", "Please call us back.", hours=-2, state=OutboxState.SENT)
    _queue(rt, "sms", "Please call us back.", hours=-1, state=OutboxState.SENT)

    page = api_client("patient", patient_id="p-001").get("/portal/messages?patient=p-001")

    assert page.status_code == 200, page.text
    text = _text(page.text)
    assert called in text
    assert wrote in text
    assert "(Phone call)" not in text
    assert "(Llamada)" not in text


@pytest.mark.parametrize(
    ("language", "wrote"),
    [("en", "You wrote to your care team"), ("es", "Usted le escribió a su equipo de salud")],
)
def test_a_message_written_on_the_portal_reads_as_the_patient_writing(
    rt: Runtime,
    tmp_path: Path,
    api_client: Callable[..., Any],
    language: str,
    wrote: str,
) -> None:
    """It read "You replied by This website" (a menu label in the middle of a sentence)."""
    import_resources(rt, tmp_path, [patient("p-001", language=language)])
    client = api_client("patient", patient_id="p-001")
    sent = client.post("/portal/messages", data={"patient": "p-001", "body": "Can I come Friday?"})
    assert sent.status_code in (200, 303), sent.text

    text = _text(client.get("/portal/messages?patient=p-001").text)

    assert f"{wrote} Can I come Friday?" in text
    assert "This website" not in text
    assert "Este sitio web" not in text
