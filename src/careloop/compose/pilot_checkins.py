"""Check-ins in the simulated pilot: oncology patients on therapy answer the symptom diary by SMS.

The Synthea sample's records end in 2021, so nobody in it is on treatment "now" and the
``oncology-symptom-checkin`` program would enrol no one. The pilot therefore adds a few
synthetic oncology patients dated from the demo clock: an active breast cancer, chemotherapy
8 days ago (SNOMED 367336001 Procedure plus a doxorubicin MedicationAdministration, which is
what both the program's eligibility and the febrile-neutropenia rule look for) and a mobile
number. Doxorubicin is given in 21-day cycles: each later cycle enters the record when the
pilot's clock reaches it, so the patients are still on therapy when the pilot ends (a fever
then, from a thermometer or the portal, must still raise the alert). The real scheduler
enrols them and sends the diary's first question; each simulated
patient answers every question as an SMS through the same inbound handler as Twilio's webhook,
one question per message. One patient reports fever or chills "a lot", which on therapy must
raise the urgent febrile-neutropenia alert; the others report mild, stable symptoms.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from careloop.careteam.worklist import alert_burden
from careloop.channels.fake import FakeChannel
from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.conversations.inbound import InboundContext, handle_reply
from careloop.fhirdata.bundles import collection
from careloop.models import CheckinConversation, WorklistItem
from careloop.outreach.program import OutreachProgram
from careloop.records.importer import import_bundle
from careloop.records.resources import resolve_patient_reference
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

PROGRAM = "oncology-symptom-checkin"
FEVER_ITEM = 8  # the diary's 8th question: fever or chills (0 none ... 4 very much)
# Shortness of breath, fever, chest pain, confusion, bleeding: any of these is an emergency on
# therapy, so the patients with mild symptoms answer them "0" and the rest "0" or "1".
EMERGENCY_ITEMS = frozenset({7, 8, 9, 10, 11})
A_LOT = "3"
FIRST_CYCLE_AGO = timedelta(days=8)  # the first cycle, before the pilot starts
CYCLE = timedelta(days=21)  # doxorubicin every 21 days (AC, TAC regimens)
_NUMBERED = re.compile(r"^\((\d+)/(\d+)\)")
_PRINCIPAL = Principal(actor="system:pilot", role=Role.CLINICIAN, source="pilot")
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass
class CheckinReport:
    """What the check-in part of the pilot did (``careloop demo`` prints it)."""

    patients: int = 0
    questions_answered: int = 0
    checkins_completed: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    """Worklist items of these patients (alerts and tasks), as ``rule (severity)``."""
    burden: dict[str, Any] = field(default_factory=dict)
    """:func:`careloop.careteam.worklist.alert_burden` over the pilot (all patients)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "oncology_patients": self.patients,
            "questions_answered": self.questions_answered,
            "checkins_completed": self.checkins_completed,
            "worklist_items": dict(self.alerts),
            "alerts_per_checkin": self.burden.get("alerts_per_checkin"),
            "alert_burden": self.burden,
        }


def oncology_bundle(now: datetime, *, patients: int = 6) -> tuple[dict[str, Any], dict[str, str]]:
    """The synthetic patients' records, dated from ``now``; and their phones -> patient ids.

    Patient 1 is the one who will report a fever. Numbers are in the 555-01xx fiction range.
    """
    entries: list[dict[str, Any]] = []
    phones: dict[str, str] = {}
    for index in range(1, patients + 1):
        pid = f"pilot-onc-{index:02d}"
        phone = f"+1555010{index + 20:04d}"
        phones[phone] = pid
        entries += [
            {
                "resourceType": "Patient",
                "id": pid,
                "gender": "female",
                "birthDate": f"{1950 + 3 * index}-04-0{index % 9 + 1}",
                "name": [{"family": "Pilot", "given": [f"Onc{index}"]}],
                "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
            },
            {
                "resourceType": "Condition",
                "id": f"{pid}-cancer",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {"coding": [{"system": SNOMED, "code": "254837009"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "onsetDateTime": (now - timedelta(days=120)).isoformat(),
            },
            *chemo_cycle(pid, now - FIRST_CYCLE_AGO, cycle=1),
        ]
    return collection(entries), phones


def chemo_cycle(pid: str, given: datetime, *, cycle: int) -> list[dict[str, Any]]:
    """One cycle's chemotherapy Procedure and doxorubicin MedicationAdministration."""
    suffix = "" if cycle == 1 else f"-{cycle}"
    subject = {"reference": f"Patient/{pid}"}
    return [
        {
            "resourceType": "Procedure",
            "id": f"{pid}-chemo{suffix}",
            "status": "completed",
            "code": {"coding": [{"system": SNOMED, "code": "367336001"}]},
            "subject": subject,
            "performedDateTime": given.isoformat(),
        },
        {
            "resourceType": "MedicationAdministration",
            "id": f"{pid}-doxorubicin{suffix}",
            "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1790099"}]},
            "subject": subject,
            "effectiveDateTime": given.isoformat(),
        },
    ]


class CheckinResponder:
    """Answers the diary's questions sent to the synthetic oncology patients' phones."""

    def __init__(self, rt: Runtime, *, sms: FakeChannel, patients: int = 6, seed: int = 11):
        self.rt, self.sms = rt, sms
        self.rng = random.Random(seed)
        bundle, self.phones = oncology_bundle(rt.clock.now(), patients=patients)
        self.febrile = next(iter(self.phones.values()))
        self.cursor = len(sms.sent)
        self.report = CheckinReport(patients=patients)
        self._import(bundle)
        self.cycle = 1
        self.next_cycle = rt.clock.now() - FIRST_CYCLE_AGO + CYCLE

    def _import(self, bundle: dict[str, Any]) -> None:
        import_bundle(
            self.rt.sessions,
            engine=self.rt.engine,
            bundle=bundle,
            name="pilot-oncology",
            clock=self.rt.clock,
            principal=_PRINCIPAL,
            default_timezone=self.rt.settings.records.default_timezone,
            default_region=self.rt.settings.records.default_region,
        )

    def give_due_cycles(self) -> None:
        """Record the chemotherapy cycles the pilot's clock has reached (every 21 days)."""
        while self.next_cycle <= self.rt.clock.now():
            self.cycle += 1
            entries = [
                r
                for pid in self.phones.values()
                for r in chemo_cycle(pid, self.next_cycle, cycle=self.cycle)
            ]
            self._import(collection(entries))
            self.next_cycle += CYCLE

    @staticmethod
    def by_sms(programs: list[OutreachProgram]) -> list[OutreachProgram]:
        """The check-in program asks by SMS only here: the conversation is an SMS one, and a
        portal or voice invitation would leave the simulated patients nothing to answer."""
        return [
            replace(p, action_space=replace(p.action_space, channels=("sms",)))
            if p.name == PROGRAM
            else p
            for p in programs
        ]

    def owns(self, address: str) -> bool:
        """A message to one of these patients (the generic responder leaves it alone)."""
        return address in self.phones

    def answer(self, inbound: InboundContext) -> int:
        """Answer every question sent since the last call; returns how many were answered."""
        self.give_due_cycles()
        fresh = self.sms.sent[self.cursor :]
        self.cursor = len(self.sms.sent)
        answered = 0
        for send in fresh:
            pid = self.phones.get(send.message.to)
            numbered = _NUMBERED.match(send.message.body)
            if pid is None or numbered is None:
                continue  # a closing line, advice or a reminder: nothing to answer
            number = int(numbered.group(1))
            if pid == self.febrile and number == FEVER_ITEM:
                body = A_LOT
            elif number in EMERGENCY_ITEMS:
                body = "0"
            else:
                body = self.rng.choice(["0", "0", "1"])
            now = self.rt.clock.now()
            with self.rt.transaction() as session:
                handle_reply(
                    session,
                    ctx=inbound,
                    message=InboundMessage(
                        channel=ChannelKind.SMS,
                        sender=send.message.to,
                        recipient=send.message.sender or "+15550009999",
                        body=body,
                        provider_id=f"SIMQ{uuid.uuid4().hex[:16]}",
                        received_at=now,
                        keyword=Keyword.CHECKIN_ANSWER,
                    ),
                )
            answered += 1
        self.report.questions_answered += answered
        return answered

    def finish(self, *, since: datetime) -> CheckinReport:
        """Count completed check-ins, the worklist items of these patients and the burden."""
        with self.rt.transaction() as session:
            refs = [
                resolve_patient_reference(session, f"Patient/{p}") for p in self.phones.values()
            ]
            patient_ids = [r for r in refs if r is not None]
            self.report.checkins_completed = len(
                session.scalars(
                    select(CheckinConversation.id).where(
                        CheckinConversation.patient_id.in_(patient_ids),
                        CheckinConversation.status == "completed",
                    )
                ).all()
            )
            for item in session.scalars(
                select(WorklistItem).where(WorklistItem.patient_id.in_(patient_ids))
            ):
                self.report.alerts[f"{item.rule_id} ({item.severity})"] += 1
            self.report.burden = alert_burden(
                session, since=since, until=self.rt.clock.now() + timedelta(seconds=1)
            )
        return self.report
