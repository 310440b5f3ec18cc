"""The demo's access story (issue "Access"): John's care gap (no colorectal screening) is found,
the colonoscopy times offered fit his wife's afternoons, he books by a reply, and no ride is
needed because she drives; Ruth (a mammogram due) has nobody to drive her and gets a ride.

The record is imported like an EHR export (Patient, RelatedPerson with availability, the
transportation screen LOINC 93030-5 = LA33-6, a clinic's Schedules and their Slots next week);
the gap is the program's own finding (``run_program``) and enrols the patient as the outreach
tick would (so ``careloop report`` sets the offers against the holdout); the offer is for the
program's service and goes through the outbox, the reply through the same function the reply
router calls, the ride to the recording fake provider.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from careloop.access.booking import live_bookings
from careloop.access.offers import choices_of, current_offer
from careloop.access.replies import handle_access_reply
from careloop.access.rides import FakeRides, dispatch_rides
from careloop.access.sending import send_offer
from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.fhirdata.bundles import collection
from careloop.outreach.config import outreach_settings
from careloop.outreach.enrollment import enroll
from careloop.outreach.service import load_outreach_programs
from careloop.outreach.titles import program_title
from careloop.programs.service import run_program
from careloop.records.availability import AVAILABILITY_EXTENSION
from careloop.records.importer import import_bundle
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

ZONE = "America/New_York"
PEOPLE = {"john": "demo-access-john", "ruth": "demo-access-ruth"}
NAMES = {"demo-access-john": ("John", "Miller"), "demo-access-ruth": ("Ruth", "Alvarez")}
SEX = {"demo-access-john": "male", "demo-access-ruth": "female"}
AGE = {"demo-access-john": 62, "demo-access-ruth": 60}
GAPS = {"demo-access-john": "colorectal-cancer-screening",
        "demo-access-ruth": "breast-cancer-screening"}  # fmt: skip
DRIVERS = {"demo-access-john": "his wife drives"}
SERVICES = {"colorectal-cancer-screening": ("colonoscopy", "73761001"),
            "breast-cancer-screening": ("mammography", "71651007")}  # fmt: skip
"""Each gap's program and the SNOMED code of the service that closes it (the program's
``services``; the clinic's Schedules carry the same code)."""
SERVICE_NAMES = {"colonoscopy": ("Colonoscopy", "Colonoscopia"),
                 "mammography": ("Mammogram", "Mamografía")}  # fmt: skip
"""What the patient reads for each service, in English and Spanish: two times at the same
hour at the same clinic are told apart only by the service's name."""


def _patient(pid: str, phone: str, now: datetime) -> dict[str, Any]:
    born = now.date().replace(year=now.year - AGE[pid], day=1)
    return {
        "resourceType": "Patient",
        "id": pid,
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": ZONE}
        ],
        "name": [{"family": NAMES[pid][1], "given": [NAMES[pid][0]]}],
        "gender": SEX[pid],
        "birthDate": born.isoformat(),
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


def _service_type(name: str, code: str) -> dict[str, Any]:
    english, spanish = SERVICE_NAMES[name]
    translation = {
        "url": "http://hl7.org/fhir/StructureDefinition/translation",
        "extension": [
            {"url": "lang", "valueCode": "es"},
            {"url": "content", "valueString": spanish},
        ],
    }
    return {
        "coding": [{"system": "http://snomed.info/sct", "code": code, "display": english}],
        "text": english,
        "_text": {"extension": [translation]},
    }


def _clinic(now: datetime) -> list[dict[str, Any]]:
    zone = ZoneInfo(ZONE)
    first = now.astimezone(zone).date() + timedelta(days=2)
    resources: list[dict[str, Any]] = [
        {"resourceType": "Location", "id": "demo-access-clinic", "name": "Main clinic"}
    ]
    for name, code in SERVICES.values():
        resources.append(
            {
                "resourceType": "Schedule",
                "id": f"demo-access-{name}",
                "serviceType": [_service_type(name, code)],
                "actor": [{"reference": "Location/demo-access-clinic"}],
            }
        )
        for offset in range(7):
            day = first + timedelta(days=offset)
            for hour, minute in ((10, 0), (14, 0), (15, 45), (17, 0)):
                start = datetime.combine(day, time(hour, minute), tzinfo=zone)
                resources.append(
                    {
                        "resourceType": "Slot",
                        "id": f"demo-slot-{name}-{day:%m%d}-{hour:02d}{minute:02d}",
                        "schedule": {"reference": f"Schedule/demo-access-{name}"},
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


def _find_gap(rt: Runtime, pid: str) -> dict[str, str]:
    """The program finds the patient's gap and enrols them, as the outreach tick would."""
    own, _ = outreach_settings(rt.settings)
    name = GAPS[pid]
    [program] = load_outreach_programs(own, names=[name])
    assert program.source is not None  # a care-gap program of the library
    now = rt.clock.now()
    with rt.transaction() as session:
        run = run_program(session, program=program.source, now=now, patient_ids=[pid])
        [found] = [e for e in run.eligible if e.patient_id == pid]
        enroll(
            session, clock=rt.clock, program=program, patient_id=pid,
            episode=f"period:{run.window.key}", now=now, announced=True,
        )  # fmt: skip
    return {"program": name, "reason": found.reason}


def _book_by_reply(rt: Runtime, pid: str, phone: str, *, service: str) -> dict[str, Any]:
    """Offer, then the patient's text "1" (through the reply router's access entry point)."""
    own, _ = outreach_settings(rt.settings)
    with rt.transaction() as session:
        sent = send_offer(
            session, patient_id=pid, clock=rt.clock, settings=rt.settings, service=service
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
        booked = next(iter(live_bookings(session, patient_id=pid)), None)
    return {
        "patient": pid,
        "offer_queued": sent.outbox_id is not None,
        "offered": offered,
        "reply": reply.handled_as if reply else None,
        "booked": {"slot": booked.slot_id, "ride": booked.ride} if booked else None,
    }


def _when(value: str) -> str:
    start = datetime.fromisoformat(value)
    return f"{start:%a} {start:%I:%M}".replace(" 0", " ") + f" {start:%p}".lower()


def _booked_words(story: dict[str, Any]) -> str:
    booked = story["booked"]
    if booked is None:
        return "not booked"
    [chosen] = [o for o in story["offered"] if o["slot"] == booked["slot"]]
    if booked["ride"]:
        how = "a ride arranged"
    else:
        how = "no ride" + (f": {DRIVERS[story['patient']]}" if story["patient"] in DRIVERS else "")
    return f"{_when(chosen['start'])}, {chosen['mode']}, {how}"


def step_access(rt: Runtime, console: Console, report: Any) -> None:
    """The demo step (``report`` is the demo's ``DemoReport``)."""
    now = rt.clock.now()
    john, ruth = PEOPLE["john"], PEOPLE["ruth"]
    _import(
        rt,
        [
            _patient(john, "+15550107001", now),
            _wife(john),
            _screen(john, now - timedelta(days=30)),
            _patient(ruth, "+15550107003", now),
            _screen(ruth, now - timedelta(days=30)),
            *_clinic(now),
        ],
    )
    stories = []
    for pid, phone in ((john, "+15550107001"), (ruth, "+15550107003")):
        gap = _find_gap(rt, pid)
        _, code = SERVICES[gap["program"]]
        stories.append({**_book_by_reply(rt, pid, phone, service=code), "gap": gap})
    provider = FakeRides()
    with rt.transaction() as session:
        rides = dispatch_rides(session, provider=provider, clock=rt.clock)
    table = Table(title="8. Access: a care gap, times that fit the patient's day, a reply books")
    for column in ("patient", "care gap found", "offered (best first)", 'booked by replying "1"'):
        table.add_column(column)
    for story in stories:
        table.add_row(
            " ".join(NAMES[story["patient"]]),
            f"{program_title(story['gap']['program'])}:\n{story['gap']['reason'].split(':')[0]}",
            "\n".join(_when(o["start"]) for o in story["offered"]) or "no time fits",
            _booked_words(story),
        )
    console.print(table)
    for story in stories:
        if story["offered"]:
            first = NAMES[story["patient"]][0]
            console.print(f"   why {first}'s first time: {story['offered'][0]['why']}")
    pickups = ", ".join(
        r.pickup_at.astimezone(ZoneInfo(ZONE)).strftime("%H:%M") for r in provider.requests
    )
    console.print(
        f"   rides requested from the {provider.name} provider: {len(rides)} (pickup {pickups})"
    )
    report.sections["access"] = {"stories": stories, "rides_requested": len(rides)}
