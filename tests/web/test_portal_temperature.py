"""The portal's temperature field (issue 14): °F or °C by locale, the febrile-neutropenia
rule, and the advice in the patient's record language even on a page shown in another.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from careloop.careteam.worklist import list_worklist
from careloop.runtime import Runtime
from careloop.web.portal.readings import temperature_unit_for
from tests.feedback.loop_payloads import chemotherapy_given, import_resources


def _spanish_patient_on_chemo(rt: Runtime, tmp_path: Path) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "pt-fever",
        "name": [{"family": "Test", "given": ["Rosa"]}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}}],
    }
    chemo = chemotherapy_given("pt-fever", rt.clock.now() - timedelta(days=10))
    import_resources(rt, tmp_path, patient, chemo)


def _post(client: Any, temperature: str, unit: str) -> Any:
    form = {"patient": "pt-fever", "temperature": temperature, "temperature_unit": unit}
    return client.post("/portal/readings", data=form, follow_redirects=False)


def test_a_fever_entered_in_fahrenheit_is_urgent_and_the_advice_is_in_the_record_language(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    _spanish_patient_on_chemo(rt, tmp_path)
    patient = api_client("patient", patient_id="pt-fever")

    saved = _post(patient, "101.3", "[degF]")
    page = patient.get("/portal/readings?patient=pt-fever&lang=en")

    assert saved.headers["location"].endswith("saved=1")
    with rt.transaction() as session:
        (alert,) = list_worklist(session, now=rt.clock.now())
    assert (alert.rule_id, alert.severity) == ("febrile-neutropenia", "urgent")
    html = page.text
    # The page is in English (lang=en); the advice comes first in the record's Spanish.
    spanish = html.index('<p lang="es"><strong>Una temperatura de 100.4 F (38 C)')
    english = html.index('<p lang="en"><strong>A temperature of 100.4 F (38 C)')
    assert spanish < english
    assert "Rosa" not in html[spanish:english]


def test_37_9_celsius_is_saved_and_raises_nothing(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    _spanish_patient_on_chemo(rt, tmp_path)
    patient = api_client("patient", patient_id="pt-fever")

    saved = _post(patient, "37,9", "Cel")  # a decimal comma, as Spanish keyboards type it

    assert saved.headers["location"].endswith("saved=1")
    with rt.transaction() as session:
        assert list_worklist(session, now=rt.clock.now()) == []
    assert 'class="notice urgent"' not in patient.get("/portal/readings?patient=pt-fever").text


def test_a_fahrenheit_number_sent_as_celsius_is_refused_naming_the_temperature(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    _spanish_patient_on_chemo(rt, tmp_path)
    patient = api_client("patient", patient_id="pt-fever")

    refused = _post(patient, "101.3", "Cel")

    assert refused.headers["location"].endswith("error=temperature")
    page = patient.get("/portal/readings?patient=pt-fever&error=temperature&lang=en")
    assert "Enter your temperature as a number, and check °F or °C" in page.text


@pytest.mark.parametrize(
    ("accept_language", "page_language", "unit"),
    [
        ("en-US,en;q=0.9", "en", "[degF]"),
        ("es-US,es;q=0.9", "es", "[degF]"),
        ("es-MX,es;q=0.9", "es", "Cel"),
        ("en-GB", "en", "Cel"),
        (None, "en", "[degF]"),
        ("es", "es", "Cel"),
    ],
)
def test_the_form_offers_fahrenheit_or_celsius_by_locale(
    accept_language: str | None, page_language: str, unit: str
) -> None:
    assert temperature_unit_for(accept_language, language=page_language) == unit
