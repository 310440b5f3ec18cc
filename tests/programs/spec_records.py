"""Patient records written from the public specification for the three kinds of misses.

Each is a test bundle (one Patient) that isolates one rule: the eCQM test-deck convention
(a bundle is one patient's whole record, whatever id its references use), CQL's null
semantics for a value of the wrong type (CMS122's glycemic result), and how CMS165 ties a
blood-pressure reading to an encounter; and two CMS124 records at its windows' edges (CMS124's
official cases are held out). The variations of ``variations.py`` are applied to them too, so
the three measures without shared cases meet boundaries, offsets, statuses and value types.
The reference engine's results on them are recorded in ``reference/`` by
tools/ecqm_reference.py, and the tests assert both careloop engines.
"""

from __future__ import annotations

from typing import Any

from fhir_builders import (
    DIABETES,
    ESSENTIAL_HYPERTENSION,
    HBA1C,
    HPV_TEST,
    PAP_TEST,
    blood_pressure,
    bundle,
    condition,
    encounter,
    lab,
    patient,
)

Bundle = dict[str, Any]


def _deck_reference(pid: str) -> Bundle:
    """An authoring-tool export: the Patient has a UUID, the resources say ``Patient-1``."""
    document = bundle([patient(pid=pid, birth="1965-01-01"), encounter(day="2025-02-01")])
    for entry in document["entry"][1:]:
        entry["resource"]["subject"] = {"reference": "Patient/Patient-1"}
    return document


def _diabetic(pid: str, *labs: dict[str, Any]) -> Bundle:
    return bundle(
        [
            patient(pid=pid, birth="1960-05-05"),
            condition(code=DIABETES, onset="2020-01-01"),
            encounter(day="2025-03-01"),
            *labs,
        ]
    )


def _hypertensive(pid: str, *extra: dict[str, Any]) -> Bundle:
    return bundle(
        [
            patient(pid=pid, birth="1965-04-02", gender="male"),
            condition(code=ESSENTIAL_HYPERTENSION, onset="2020-01-01"),
            encounter(day="2025-03-01"),
            blood_pressure(day="2025-03-01", systolic=128, diastolic=78),
            *extra,
        ]
    )


def _woman(pid: str, birth: str, *tests: dict[str, Any]) -> Bundle:
    return bundle([patient(pid=pid, birth=birth), encounter(day="2025-02-01"), *tests])


def _at(resource: dict[str, Any], moment: str) -> dict[str, Any]:
    resource["effectiveDateTime"] = moment
    return resource


def spec_records() -> dict[str, Bundle]:
    """Key -> bundle; the key names the rule (and is the Patient id)."""
    return {
        "deck-patient-1": _deck_reference("deck-patient-1"),
        "cms122-coded-last": _diabetic(
            "cms122-coded-last",
            lab(code=HBA1C, day="2025-03-01", percent=9.5),
            lab(code=HBA1C, day="2025-09-01"),  # the most recent: a code, not a Quantity
        ),
        "cms122-coded-only": _diabetic("cms122-coded-only", lab(code=HBA1C, day="2025-09-01")),
        "cms122-high": _diabetic("cms122-high", lab(code=HBA1C, day="2025-09-01", percent=9.5)),
        "cms165-no-encounter": _hypertensive(
            "cms165-no-encounter",
            blood_pressure(day="2025-11-01", systolic=170, diastolic=100, encounter_id=None),
        ),
        "cms165-emergency-ref": _hypertensive(
            "cms165-emergency-ref",
            encounter(day="2025-11-01", eid="er", klass="EMER"),
            blood_pressure(day="2025-11-01", systolic=170, diastolic=100, encounter_id="er"),
        ),
        "cms165-during-emergency": _hypertensive(
            "cms165-during-emergency",
            encounter(day="2025-11-01", eid="er", klass="EMER"),
            _at(
                blood_pressure(day="2025-11-01", systolic=170, diastolic=100, encounter_id=None),
                "2025-11-01T09:15:00Z",  # within the emergency visit, 09:00-09:30
            ),
        ),
        "cms165-unknown-encounter": _hypertensive(
            "cms165-unknown-encounter",
            blood_pressure(day="2025-11-01", systolic=170, diastolic=100, encounter_id="gone"),
        ),
        # CMS124 (its cases are held out): cytology on the first instant of its 3-year window
        # (the variations move it out), and an HPV test one year too young to count.
        "cms124-pap-at-boundary": _woman(
            "cms124-pap-at-boundary",
            "1990-06-01",
            _at(lab(code=PAP_TEST, day="2023-01-01"), "2023-01-01T00:00:00Z"),
        ),
        "cms124-hpv-at-29": _woman(
            "cms124-hpv-at-29", "1996-01-01", lab(code=HPV_TEST, day="2025-03-01")
        ),
    }
