"""The portal names a visit's service in the patient's language where the directory has it.

A Spanish patient's visits page read "Mammogram" and "Primary care visit" among Spanish words:
the directory (and the demo's) ships the names in other languages as FHIR ``translation``
extensions, and a name without one still shows as the directory gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, location, make_due, patient, schedule, slot


def translation(language: str, text: str) -> dict[str, Any]:
    return {
        "url": "http://hl7.org/fhir/StructureDefinition/translation",
        "extension": [
            {"url": "lang", "valueCode": language},
            {"url": "content", "valueString": text},
        ],
    }


def _named(resource: dict[str, Any], name: str, **other: str) -> dict[str, Any]:
    coding = resource["serviceType"][0]["coding"][0]
    coding["display"] = name
    if other:
        coding["_display"] = {
            "extension": [translation(lang, text) for lang, text in other.items()]
        }
    return resource


def test_a_spanish_patient_reads_the_service_in_spanish(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    start = rt.clock.now() + timedelta(days=3)
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-es", language="es"),
            location(),
            _named(schedule("mammo", service="mammography"), "Mammogram", es="Mamografía"),
            _named(schedule("wellness", service="primary-care"), "Wellness visit"),
            slot("mammo-1", schedule_id="mammo", start=start),
            slot("wellness-1", schedule_id="wellness", start=start + timedelta(hours=2)),
        ],
    )
    make_due(rt, "p-es", "breast-cancer-screening")
    make_due(rt, "p-es", "annual-wellness-visit")

    page = api_client("patient", patient_id="p-es").get("/portal/visits?patient=p-es")

    assert page.status_code == 200, page.text
    assert 'lang="es"' in page.text
    assert "Mamografía" in page.text
    assert "Mammogram" not in page.text
    # No Spanish name in the directory: the name it has, rather than none.
    assert "Wellness visit" in page.text


def test_an_english_patient_reads_the_directory_name(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-en"),
            location(),
            _named(schedule("mammo", service="mammography"), "Mammogram", es="Mamografía"),
            slot("mammo-1", schedule_id="mammo", start=rt.clock.now() + timedelta(days=3)),
        ],
    )
    make_due(rt, "p-en", "breast-cancer-screening")

    page = api_client("patient", patient_id="p-en").get("/portal/visits?patient=p-en")

    assert page.status_code == 200, page.text
    assert "Mammogram" in page.text
    assert "Mamografía" not in page.text
