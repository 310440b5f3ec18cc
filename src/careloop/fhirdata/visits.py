"""What a FHIR ``Appointment`` says about the visit itself: video or in person, a ride and
when it picks the patient up, who comes along, the link to join a video visit.

Access writes these facts when it books (``access.appointments``) and the appointment
journey reads them to word its reminders (``outreach.eligibility``); both go through this
module so the extension URLs are spelled once and neither imports the other. An EHR's own
Appointment may carry the same extensions (or an escort participant) and is read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from careloop.fhirdata.codings import codes
from careloop.fhirdata.dates import zoned
from careloop.fhirdata.references import reference_of

VIRTUAL_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/virtual-service"
RIDE_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/ride-arranged"
RIDE_PICKUP_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/ride-pickup"
TELEHEALTH_LINK_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/telehealth-link"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ESCORT = "ESC"
"""v3 ParticipationType "escort": the person who comes along to the visit."""

Visit = Literal["in-person", "telehealth", "ride"]


@dataclass(frozen=True, slots=True)
class VisitFacts:
    """The reminder-relevant facts of one Appointment."""

    visit: Visit
    pickup_at: datetime | None = None
    telehealth_link: str | None = None
    escorts: tuple[str, ...] | None = None
    """RelatedPerson ids of the caregivers who come along; None when the Appointment does
    not say (an EHR's own booking without escorts): then every designated caregiver is
    copied, as before. A booking careloop made (it carries the ride flag) always says."""


def escort_participant(related_person_id: str) -> dict[str, Any]:
    """The Appointment participant for a caregiver who comes along."""
    return {
        "type": [{"coding": [{"system": PARTICIPATION_TYPE, "code": ESCORT, "display": "escort"}]}],
        "actor": {"reference": f"RelatedPerson/{related_person_id}"},
        "status": "accepted",
    }


def _extension(resource: Mapping[str, Any], url: str) -> Mapping[str, Any] | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == url:
            return ext
    return None


def visit_facts(appointment: Mapping[str, Any]) -> VisitFacts:
    """Read the visit's kind, ride pickup, video link and escorts from an Appointment."""
    virtual = (_extension(appointment, VIRTUAL_EXTENSION) or {}).get("valueBoolean") is True
    ride = (_extension(appointment, RIDE_EXTENSION) or {}).get("valueBoolean") is True
    link = (_extension(appointment, TELEHEALTH_LINK_EXTENSION) or {}).get("valueUrl")
    pickup = zoned((_extension(appointment, RIDE_PICKUP_EXTENSION) or {}).get("valueDateTime"))
    escorts = []
    for participant in appointment.get("participant") or []:
        ref = reference_of((participant or {}).get("actor")) or ""
        kinds = {c for t in participant.get("type") or [] for c in codes(t)}
        if ref.startswith("RelatedPerson/") and ESCORT in kinds:
            escorts.append(ref.removeprefix("RelatedPerson/"))
    visit: Visit = "telehealth" if virtual else "ride" if ride else "in-person"
    return VisitFacts(
        visit=visit,
        pickup_at=pickup if visit == "ride" else None,
        telehealth_link=str(link) if virtual and isinstance(link, str) and link else None,
        escorts=(tuple(escorts) if visit == "in-person" else ())
        if escorts or _extension(appointment, RIDE_EXTENSION) is not None
        else None,
    )
