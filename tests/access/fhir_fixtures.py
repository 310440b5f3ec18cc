"""Small FHIR records for access tests: patients, caregivers, screens, schedules and slots.

Everything goes into the database through ``careloop``'s importer, as an EHR export would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from careloop.events import EventKind, record_event
from careloop.records.availability import AVAILABILITY_EXTENSION
from careloop.records.importer import ImportSummary, import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

TZ_EXT = "http://hl7.org/fhir/StructureDefinition/timezone"


def patient(pid: str, *, zone: str = "America/New_York", language: str = "en") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "extension": [{"url": TZ_EXT, "valueCode": zone}],
        "name": [{"family": "Test", "given": ["Pat"]}],
        "gender": "male",
        "birthDate": "1950-01-01",
        "telecom": [
            {"system": "phone", "value": "+15550109" + pid[-3:].rjust(3, "0"), "use": "mobile"}
        ],
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": language}]}}
        ],
    }


def caregiver(
    pid: str,
    rid: str,
    *,
    relationship: str = "wife",
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri"),
    start: str = "15:30:00",
    end: str = "20:00:00",
    accompanies: bool | None = None,
    given: str | None = None,
) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {
            "url": AVAILABILITY_EXTENSION,
            "extension": [
                *({"url": "daysOfWeek", "valueCode": d} for d in days),
                {"url": "availableStartTime", "valueTime": start},
                {"url": "availableEndTime", "valueTime": end},
            ],
        }
    ]
    if accompanies is not None:
        extensions.append(
            {
                "url": "https://careloop.dev/fhir/StructureDefinition/accompanies",
                "valueBoolean": accompanies,
            }
        )
    return {
        "resourceType": "RelatedPerson",
        "id": rid,
        "patient": {"reference": f"Patient/{pid}"},
        "relationship": [{"text": relationship}],
        **({"name": [{"given": [given], "family": "Driver"}]} if given else {}),
        "telecom": [{"system": "phone", "value": "+15550108" + rid[-3:].rjust(3, "0")}],
        "extension": extensions,
    }


def transport_screen(pid: str, *, when: datetime, answer: str = "LA33-6") -> dict[str, Any]:
    """The AHC HRSN transportation question (LOINC 93030-5); LA33-6 is "Yes"."""
    return {
        "resourceType": "Observation",
        "id": f"{pid}-transport",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "93030-5"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when.isoformat(),
        "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": answer}]},
    }


def schedule(
    sid: str, *, service: str = "mammography", virtual: bool = False, display: str | None = None
) -> dict[str, Any]:
    coding = {"system": "http://example.org/services", "code": service}
    resource: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": sid,
        "active": True,
        "serviceType": [{"coding": [{**coding, **({"display": display} if display else {})}]}],
        "actor": [{"reference": "Location/clinic-main"}],
    }
    if virtual:
        resource["extension"] = [
            {
                "url": "https://careloop.dev/fhir/StructureDefinition/virtual-service",
                "valueBoolean": True,
            }
        ]
    return resource


def location() -> dict[str, Any]:
    return {"resourceType": "Location", "id": "clinic-main", "name": "Main clinic"}


def slot(
    sid: str, *, schedule_id: str, start: datetime, minutes: int = 30, status: str = "free"
) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "id": sid,
        "schedule": {"reference": f"Schedule/{schedule_id}"},
        "status": status,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
    }


def import_resources(rt: Runtime, folder: Path, resources: list[dict[str, Any]]) -> ImportSummary:
    """Write one collection Bundle and import it with the real importer."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bundle-{len(list(folder.iterdir()))}.json"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    path.write_bytes(orjson.dumps(bundle))
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    assert not summary.rejected, summary.rejected
    return summary


def make_due(rt: Runtime, patient_id: str, program: str = "breast-cancer-screening") -> None:
    """Record the program's care gap for the patient, as a program run does: the portal offers
    its own times only for a service the patient is due for."""
    with rt.transaction() as session:
        record_event(
            session,
            kind=EventKind.ELIGIBLE,
            clock=rt.clock,
            actor="system:test",
            patient_id=patient_id,
            program=program,
            payload={"reason": f"{program} due"},
        )


def john_and_two_clinics(rt: Runtime, folder: Path, *, coded: bool = False) -> None:
    """A man whose wife is free weekday afternoons; a mammography and a colonoscopy
    schedule, the mammogram at the better time. ``coded``: the services as an EHR codes
    them (SNOMED codes shown as "Mammogram", "Colonoscopy"), not by word."""
    day = datetime.combine(datetime.now(UTC).date() + timedelta(days=3), datetime.min.time())
    weekday = day + timedelta(days=(7 - day.weekday()) % 7 if day.weekday() > 3 else 0)
    at = weekday.replace(tzinfo=UTC)
    mammo, colon = (
        (schedule("sch-mammo", service="71651007", display="Mammogram"),
         schedule("sch-colon", service="73761001", display="Colonoscopy"))
        if coded
        else (schedule("sch-mammo", service="mammography"),
              schedule("sch-colon", service="colonoscopy"))
    )  # fmt: skip
    import_resources(
        rt,
        folder,
        [
            patient("john"),
            caregiver("john", "john-wife"),
            location(),
            mammo,
            colon,
            slot("s-mammo", schedule_id="sch-mammo", start=at + timedelta(hours=21)),
            slot("s-colon", schedule_id="sch-colon", start=at + timedelta(hours=22)),
        ],
    )
