"""The new town's provider directory for the demo's relocating patient (issue 25, item 7).

FHIR resources as a directory or an EHR exports them: two primary-care doctors at one clinic
(one accepts new patients, one does not, by the Plan-Net extension), mammography at three
imaging locations, and two pharmacies giving flu shots (one 2 km from the patient's home,
one 60 km away). Slots start the day after ``now``, on weekday mornings.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from careloop.access.directory import NEW_PATIENTS, LinkNeed
from careloop.fhirdata.codings import TRANSLATION

HOME = (42.3601, -71.0589)  # the patient's new address (Boston), by its geolocation extension
SERVICES = "http://example.org/services"
PRIMARY_CARE, MAMMOGRAPHY, FLU_SHOT = "primary-care", "mammography", "flu-shot"
SERVICE_NAMES = {PRIMARY_CARE: "Primary care visit", MAMMOGRAPHY: "Mammogram", FLU_SHOT: "Flu shot"}
# The names in the portal's other languages, as a directory ships them (FHIR translation).
SERVICE_TRANSLATIONS = {
    PRIMARY_CARE: {"es": "Consulta de medicina general", "pt": "Consulta de clínica geral",
                   "zh": "全科门诊"},
    MAMMOGRAPHY: {"es": "Mamografía", "pt": "Mamografia", "zh": "乳腺X光检查"},
    FLU_SHOT: {"es": "Vacuna contra la gripe", "pt": "Vacina da gripe", "zh": "流感疫苗"},
}  # fmt: skip


def home_address() -> dict[str, Any]:
    return {
        "line": ["1 Demo Way"], "city": "Boston", "state": "MA", "country": "US",
        "extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/geolocation",
            "extension": [{"url": "latitude", "valueDecimal": HOME[0]},
                          {"url": "longitude", "valueDecimal": HOME[1]}],
        }],
    }  # fmt: skip


def _location(
    lid: str, name: str, at: tuple[float, float], *, pharmacy: bool = False
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Location", "id": lid, "status": "active", "name": name,
        "position": {"latitude": at[0], "longitude": at[1]},
    }  # fmt: skip
    if pharmacy:
        resource["type"] = [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "PHARM"}
                ]
            }
        ]
    return resource


def _role(rid: str, location: str, *, accepting: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole", "id": rid, "active": True,
        "location": [{"reference": f"Location/{location}"}],
        "extension": [{"url": NEW_PATIENTS, "extension": [{
            "url": "acceptingPatients",
            "valueCodeableConcept": {"coding": [{
                "system": "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/AcceptingPatientsCS",
                "code": accepting}]},
        }]}],
    }  # fmt: skip


def translation(language: str, text: str) -> dict[str, Any]:
    """A FHIR ``translation`` extension: ``text`` in ``language``."""
    return {"url": TRANSLATION, "extension": [{"url": "lang", "valueCode": language},
                                              {"url": "content", "valueString": text}]}  # fmt: skip


def _schedule(sid: str, service: str, actor: str) -> dict[str, Any]:
    return {
        "resourceType": "Schedule", "id": sid, "active": True,
        "serviceType": [{"coding": [{"system": SERVICES, "code": service,
                                     "display": SERVICE_NAMES[service],
                                     "_display": {"extension": [
                                         translation(lang, name) for lang, name
                                         in SERVICE_TRANSLATIONS[service].items()]}}]}],
        "actor": [{"reference": actor}],
    }  # fmt: skip


def _slots(sid: str, first: datetime, count: int) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Slot", "id": f"{sid}-{n}", "status": "free",
            "schedule": {"reference": f"Schedule/{sid}"},
            "start": (first + timedelta(days=n)).isoformat(),
            "end": (first + timedelta(days=n, minutes=30)).isoformat(),
        }
        for n in range(count)
    ]  # fmt: skip


def directory_resources(now: datetime) -> list[dict[str, Any]]:
    """Locations, roles, schedules and slots of the new town: four days from tomorrow 15:00 UTC."""
    first = datetime.combine(now.date() + timedelta(days=1), time(15, 0), tzinfo=now.tzinfo)
    resources: list[dict[str, Any]] = [
        _location("loc-north-clinic", "North Street Family Medicine", (42.365, -71.062)),
        _location("loc-imaging-east", "East Imaging Center", (42.37, -71.03)),
        _location("loc-imaging-west", "West Imaging Center", (42.35, -71.15)),
        _location("loc-imaging-south", "South Women's Health", (42.30, -71.07)),
        _location("loc-pharmacy-near", "Corner Pharmacy", (42.37, -71.07), pharmacy=True),
        _location("loc-pharmacy-far", "Highway Pharmacy", (42.90, -71.06), pharmacy=True),
        _role("role-dr-open", "loc-north-clinic", accepting="newpt"),
        _role("role-dr-full", "loc-north-clinic", accepting="nopt"),
    ]
    schedules = [
        ("sch-dr-open", PRIMARY_CARE, "PractitionerRole/role-dr-open"),
        ("sch-dr-full", PRIMARY_CARE, "PractitionerRole/role-dr-full"),
        ("sch-mammo-east", MAMMOGRAPHY, "Location/loc-imaging-east"),
        ("sch-mammo-west", MAMMOGRAPHY, "Location/loc-imaging-west"),
        ("sch-mammo-south", MAMMOGRAPHY, "Location/loc-imaging-south"),
        ("sch-flu-near", FLU_SHOT, "Location/loc-pharmacy-near"),
        ("sch-flu-far", FLU_SHOT, "Location/loc-pharmacy-far"),
    ]
    for sid, service, actor in schedules:
        resources.append(_schedule(sid, service, actor))
        # The full doctor's and the far pharmacy's slots come first: a finder that ignored
        # the directory would offer them.
        early = first - timedelta(hours=1) if sid in ("sch-dr-full", "sch-flu-far") else first
        resources.extend(_slots(sid, early, 4))
    return resources


def relocating_needs() -> tuple[LinkNeed, ...]:
    """What the relocating patient books: a doctor taking new patients, a mammogram, a flu shot."""
    return (
        LinkNeed("primary care (accepting new patients)", PRIMARY_CARE, "new-patients"),
        LinkNeed("mammogram (several locations)", MAMMOGRAPHY, "locations"),
        LinkNeed("flu shot (pharmacy near home)", FLU_SHOT, "pharmacy-nearby"),
    )
