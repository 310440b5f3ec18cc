"""The patient record's demographic view, derived from one or more FHIR Patient resources.

When several sources describe the same person, later-imported values win field by field and
contact points are united (deduplicated by system and value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from careloop.fhirdata import dates
from careloop.fhirdata.patients import preferred_language
from careloop.records.contacts_phone import DEFAULT_REGION, normalise_points, region_of
from careloop.records.timezones import resolve_timezone

RACE_EXTENSION = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
ETHNICITY_EXTENSION = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"


@dataclass
class Demographics:
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    gender: str | None = None
    language: str | None = None
    timezone: str = "UTC"
    timezone_source: str = "default"
    deceased: bool = False
    deceased_at: datetime | None = None
    race: str | None = None
    ethnicity: str | None = None
    contact_points: list[dict[str, Any]] = field(default_factory=list)
    address: dict[str, Any] | None = None


def _official_name(patient: dict[str, Any]) -> tuple[str | None, str | None]:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    if not names:
        return None, None
    chosen = next((n for n in names if n.get("use") == "official"), names[0])
    given = chosen.get("given") or []
    return (given[0] if given else None), chosen.get("family")


def _omb_text(patient: dict[str, Any], url: str) -> str | None:
    for ext in patient.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            for sub in ext.get("extension") or []:
                if sub.get("url") == "text" and isinstance(sub.get("valueString"), str):
                    return str(sub["valueString"])
            for sub in ext.get("extension") or []:
                if sub.get("url") == "ombCategory":
                    return str((sub.get("valueCoding") or {}).get("display") or "") or None
    return None


def contact_points_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Phone, SMS and email contact points with their use and rank (period-ended ones dropped)."""
    points = []
    for cp in resource.get("telecom") or []:
        if not isinstance(cp, dict) or not cp.get("value") or not cp.get("system"):
            continue
        if isinstance(cp.get("period"), dict) and cp["period"].get("end"):
            continue
        points.append(
            {
                "system": cp["system"],
                "value": cp["value"],
                "use": cp.get("use"),
                "rank": cp.get("rank"),
            }
        )
    return points


def merge_contact_points(*groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for group in groups:
        for cp in group:
            seen[(cp["system"], cp["value"])] = cp
    return list(seen.values())


def demographics_from(
    patients: list[dict[str, Any]],
    *,
    default_timezone: str,
    zones: Mapping[str, tuple[str, str]] | None = None,
    default_region: str = DEFAULT_REGION,
) -> Demographics:
    """Demographics from the Patient resources of one person, oldest first.

    ``zones`` holds time zones already resolved for some Patient ids (by the importer's
    parser processes); the others are resolved here.
    """
    demo = Demographics(timezone=default_timezone)
    groups: list[list[dict[str, Any]]] = []
    for patient in patients:
        given, family = _official_name(patient)
        demo.given_name = given or demo.given_name
        demo.family_name = family or demo.family_name
        if isinstance(patient.get("birthDate"), str):
            demo.birth_date = dates.day(patient["birthDate"])
        demo.gender = patient.get("gender") or demo.gender
        demo.language = preferred_language(patient) or demo.language
        if isinstance(patient.get("deceasedDateTime"), str):
            demo.deceased = True
            demo.deceased_at = dates.start(patient["deceasedDateTime"])
        elif patient.get("deceasedBoolean") is True:
            demo.deceased = True
        elif patient.get("deceasedBoolean") is False:
            demo.deceased, demo.deceased_at = False, None
        demo.race = _omb_text(patient, RACE_EXTENSION) or demo.race
        demo.ethnicity = _omb_text(patient, ETHNICITY_EXTENSION) or demo.ethnicity
        addresses = [a for a in patient.get("address") or [] if isinstance(a, dict)]
        if addresses:
            home = next((a for a in addresses if a.get("use") in (None, "home")), addresses[0])
            demo.address = {
                k: home[k] for k in ("line", "city", "state", "postalCode", "country") if k in home
            }
        known = (zones or {}).get(patient.get("id", ""))
        zone, source = known or resolve_timezone(patient, default=default_timezone)
        if source != "default" or demo.timezone_source == "default":
            demo.timezone, demo.timezone_source = zone, source
        groups.append(contact_points_of(patient))
    demo.contact_points = normalise_points(
        merge_contact_points(*groups), region=region_of(demo.address, default=default_region)
    )
    return demo


# The reporting age bands: only these leave the record for reports (no birth dates).
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 11, "0-11"),
    (12, 17, "12-17"),
    (18, 29, "18-29"),
    (30, 44, "30-44"),
    (45, 64, "45-64"),
    (65, None, "65+"),
)


def age_band(age: int | None) -> str:
    """The reporting age band of an age in years ("unknown" when not recorded)."""
    if age is None or age < 0:
        return "unknown"
    for low, high, label in AGE_BANDS:
        if age >= low and (high is None or age <= high):
            return label
    raise AssertionError("age bands cover every age")
