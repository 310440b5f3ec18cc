"""The demo's access story (issue "Access"): John's visit fits his wife's afternoons, booked by a
reply, no ride needed because she drives; Ruth has nobody to drive her and gets a ride.

The record is imported like an EHR export (Patient, RelatedPerson with availability, the
transportation screen LOINC 93030-5 = LA33-6, a Schedule and its Slots next week); the offer
goes through the outbox, the reply through the same function the reply router calls, the ride
to the recording fake provider. Output: ids, slot ids and local times only.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from careloop.access.offers import choices_of, current_offer
from careloop.access.replies import handle_access_reply
from careloop.access.rides import FakeRides, dispatch_rides
from careloop.access.sending import send_offer
from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.fhirdata.bundles import collection
from careloop.outreach.config import outreach_settings
from careloop.records.availability import AVAILABILITY_EXTENSION
from careloop.records.importer import import_bundle
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

ZONE = "America/New_York"
PEOPLE = {"john": "demo-access-john", "ruth": "demo-access-ruth"}
NAMES = {"demo-access-john": ("John", "Miller"), "demo-access-ruth": ("Ruth", "Alvarez")}


def _patient(pid: str, phone: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": ZONE}
        ],
        "name": [{"family": NAMES[pid][1], "given": [NAMES[pid][0]]}],
        "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}}],
    }


def _screen(pid: str, when: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{pid}-transport",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "93030-5"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when.isoformat(),
        "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA33-6"}]},
    }


def _wife(pid: str) -> dict[str, Any]:
    days = [{"url": "daysOfWeek", "valueCode": d} for d in ("mon", "tue", "wed", "thu", "fri")]
    return {
        "resourceType": "RelatedPerson",
        "id": f"{pid}-wife",
        "patient": {"reference": f"Patient/{pid}"},
        "relationship": [{"text": "wife"}],
        "name": [{"family": NAMES[pid][1], "given": ["Mary"]}],
        "telecom": [{"system": "phone", "value": "+15550107002"}],
        "extension": [
            {
                "url": AVAILABILITY_EXTENSION,
                "extension": [
                    *days,
                    {"url": "availableStartTime", "valueTime": "15:30:00"},
                    {"url": "availableEndTime", "valueTime": "20:00:00"},
                ],
            }
        ],
    }


def _clinic(now: datetime) -> list[dict[str, Any]]:
    zone = ZoneInfo(ZONE)
    first = now.astimezone(zone).date() + timedelta(days=2)
    resources: list[dict[str, Any]] = [
        {"resourceType": "Location", "id": "demo-access-clinic", "name": "Main clinic"},
        {
            "resourceType": "Schedule",
            "id": "demo-access-mammo",
            "serviceType": [{"coding": [{"system": "http://snomed.info/sct", "code": "71651007"}]}],
            "actor": [{"reference": "Location/demo-access-clinic"}],
        },
    ]
    for offset in range(7):
        day = first + timedelta(days=offset)
        for hour, minute in ((10, 0), (14, 0), (15, 45), (17, 0)):
            start = datetime.combine(day, time(hour, minute), tzinfo=zone)
            resources.append(
                {
                    "resourceType": "Slot",
                    "id": f"demo-slot-{day:%m%d}-{hour:02d}{minute:02d}",
                    "schedule": {"reference": "Schedule/demo-access-mammo"},
                    "status": "free",
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=30)).isoformat(),
                }
            )
    return resources


def _import(rt: Runtime, resources: list[dict[str, Any]]) -> None:
    import_bundle(
        rt.sessions, engine=rt.engine, bundle=collection(resources), name="access",
        clock=rt.clock, principal=CLI_OPERATOR, default_timezone=ZONE,
    )  # fmt: skip


def _book_by_reply(rt: Runtime, pid: str, phone: str) -> dict[str, Any]:
    """Offer, then the patient's text "1" (through the reply router's access entry point)."""
    own, _ = outreach_settings(rt.settings)
    with rt.transaction() as session:
        sent = send_offer(
            session, patient_id=pid, clock=rt.clock, settings=rt.settings, service="71651007"
        )
    with rt.transaction() as session:
        offer = current_offer(session, patient_id=pid, now=rt.clock.now())
        offered = [c.as_json() for c in choices_of(offer)] if offer else []
        reply = handle_access_reply(
            session,
            patient_id=pid,
            message=InboundMessage(
                channel=ChannelKind.SMS,
                sender=phone,
                recipient="+15550009999",
                body="1",
                provider_id=f"demo-reply-{pid}",
                received_at=rt.clock.now(),
                keyword=parse_reply("1").keyword,
            ),
            clock=rt.clock,
            settings=own,
            app_settings=rt.settings,  # as the reply router does: the caregiver is told
        )
    return {
        "patient": pid,
        "offer_queued": sent.outbox_id is not None,
        "offered": offered,
        "reply": reply.handled_as if reply else None,
    }


def step_access(rt: Runtime, console: Console, report: Any) -> None:
    """The demo step (``report`` is the demo's ``DemoReport``)."""
    now = rt.clock.now()
    john, ruth = PEOPLE["john"], PEOPLE["ruth"]
    _import(
        rt,
        [
            _patient(john, "+15550107001"),
            _wife(john),
            _screen(john, now - timedelta(days=30)),
            _patient(ruth, "+15550107003"),
            _screen(ruth, now - timedelta(days=30)),
            *_clinic(now),
        ],
    )
    stories = [_book_by_reply(rt, john, "+15550107001"), _book_by_reply(rt, ruth, "+15550107003")]
    provider = FakeRides()
    with rt.transaction() as session:
        rides = dispatch_rides(session, provider=provider, clock=rt.clock)
    table = Table(title="8. Access: slots that fit the patient's day, booked by a reply")
    for column in ("patient", "offered (best first)", "mode", "ride", "why (first offer)", "reply"):
        table.add_column(column)
    for story in stories:
        offered = story["offered"]
        first = offered[0] if offered else {}
        table.add_row(
            story["patient"],
            "\n".join(f"{o['slot']} {o['start'][11:16]}" for o in offered),
            str(first.get("mode", "-")),
            "yes" if first.get("ride") else "no",
            str(first.get("why", "no slot fits")),
            str(story["reply"]),
        )
    console.print(table)
    pickups = ", ".join(
        r.pickup_at.astimezone(ZoneInfo(ZONE)).strftime("%H:%M") for r in provider.requests
    )
    console.print(
        f"   rides requested from the {provider.name} provider: {len(rides)} (pickup {pickups})"
    )
    report.sections["access"] = {"stories": stories, "rides_requested": len(rides)}
