"""The demo's email and voice patients (issue 15): Grace, who asked for email, and Rosa, who
speaks Spanish and has only a home line, so a call is how she is reached.

Both come in as an EHR would send them (Patient with telecom, address, time zone and
``communication``); their stated channel is set as staff would set it (``careloop preferences
set``), and each is asked for this season's flu shot through ``request_message`` on that
channel, so the outbox holds one email and one Spanish call for ``careloop worker`` to send.
The addresses and numbers are fictional (``example.org``, 555-01xx).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console

from careloop.fhirdata.bundles import collection
from careloop.outreach.config import outreach_settings
from careloop.outreach.requests import request_message
from careloop.personalize.service import set_stated_preferences
from careloop.records.importer import import_bundle
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

ZONE = "America/New_York"
EMAIL_PATIENT, VOICE_PATIENT = "demo-email-grace", "demo-voice-rosa"
PEOPLE: dict[str, dict[str, Any]] = {
    EMAIL_PATIENT: {
        "name": ("Grace", "Park"), "age": 58, "language": "en", "channel": "email",
        "telecom": [
            {"system": "email", "value": "grace.park@example.org", "use": "home"},
            {"system": "phone", "value": "(617) 555-0171", "use": "home"},
        ],
    },
    VOICE_PATIENT: {
        "name": ("Rosa", "Delgado"), "age": 67, "language": "es", "channel": "voice",
        "telecom": [
            {"system": "phone", "value": "(617) 555-0163", "use": "home"},
            {"system": "email", "value": "rosa.delgado@example.org", "use": "home"},
        ],
    },
}  # fmt: skip
MESSAGE = "flu_shot_due"  # approved in English and Spanish, with a voice script


def _patient(pid: str, now: datetime) -> dict[str, Any]:
    person = PEOPLE[pid]
    given, family = person["name"]
    return {
        "resourceType": "Patient",
        "id": pid,
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": ZONE}
        ],
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": now.date().replace(year=now.year - person["age"], day=1).isoformat(),
        "telecom": person["telecom"],
        "address": [{"city": "Boston", "state": "MA", "country": "US"}],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": person["language"]}]},
                "preferred": True,
            }
        ],
    }


def step_channels(rt: Runtime, console: Console, report: Any) -> None:
    """The demo step (``report`` is the demo's ``DemoReport``)."""
    now = rt.clock.now()
    import_bundle(
        rt.sessions, engine=rt.engine, bundle=collection([_patient(p, now) for p in PEOPLE]),
        name="demo-channels", clock=rt.clock, principal=CLI_OPERATOR,
        default_timezone=rt.settings.records.default_timezone,
        default_region=rt.settings.records.default_region,
    )  # fmt: skip
    booking = {"booking_link": outreach_settings(rt.settings)[0].booking_link}
    queued: dict[str, dict[str, Any]] = {}
    with rt.transaction() as session:
        for pid, person in PEOPLE.items():
            set_stated_preferences(
                session, clock=rt.clock, patient_id=pid,
                changes={"channel": person["channel"]}, actor=CLI_OPERATOR.actor,
            )  # fmt: skip
            asked = request_message(
                session, patient_id=pid, message=MESSAGE, purpose="care-reminders",
                key=f"demo-channels:{pid}", now=now, clock=rt.clock, settings=rt.settings,
                fields=booking, allowed_channels=(person["channel"],),
            )  # fmt: skip
            queued[pid] = {
                "outbox_id": asked.outbox_id,
                "channel": asked.channel,
                "language": asked.language,
                "not_queued": asked.not_queued,
            }
    report.sections["channels"] = queued
    console.print("12. Email and voice: a flu-shot reminder for a patient on each")
    for pid, row in queued.items():
        what = (
            f"{row['channel']} in {row['language']}, outbox #{row['outbox_id']}"
            if row["outbox_id"] is not None
            else f"not queued ({row['not_queued']})"
        )
        console.print(f"   {pid} (prefers {PEOPLE[pid]['channel']}): {what}", highlight=False)
    console.print(
        "   careloop worker --once sends them; see docs/walkthrough.md for SMTP and Twilio.",
        highlight=False,
    )
