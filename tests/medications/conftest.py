"""Fixtures for medication tests: a patient with a phone, medicines in the record, content."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careloop.channels.fake import FakeChannel
from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.channels.portal import InMemoryPortalInbox, PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.compose.outreach import inbound_context
from careloop.compose.worker import build_worker
from careloop.content.library import load_library
from careloop.content.service import sync_library
from careloop.conversations.inbound import handle_reply
from careloop.models import FhirResource, Patient
from careloop.records.contacts import index_contacts
from careloop.runtime import Runtime

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
METFORMIN = "860975"
_LIBRARY = load_library()


def make_patient(
    rt: Runtime, *, patient_id: str, timezone: str = "America/New_York", language: str = "en"
) -> None:
    points = [{"system": "phone", "value": "+15550100001", "use": "mobile"}]
    now = rt.clock.now()
    with rt.transaction() as session:
        session.add(
            Patient(
                id=patient_id,
                given_name="Rosa",
                family_name="Test",
                gender="female",
                language=language,
                timezone=timezone,
                timezone_source="test",
                deceased=False,
                contact_points=points,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        index_contacts(session, patient_id=patient_id, points=points)
        session.add(
            FhirResource(
                resource_type="Patient",
                fhir_id=patient_id,
                patient_id=patient_id,
                codes="",
                supported=True,
                resource={"resourceType": "Patient", "id": patient_id},
                imported_at=now,
            )
        )
        sync_library(session, library=_LIBRARY, clock=rt.clock)


def medication(
    kind: str,
    fhir_id: str,
    *,
    code: str = METFORMIN,
    name: str = "metformin 500 MG Oral Tablet",
    status: str | None = None,
    timing: dict[str, Any] | None = None,
    when: datetime,
    days_supply: int | None = None,
) -> dict[str, Any]:
    """A MedicationRequest / Statement / Dispense about one medicine."""
    resource: dict[str, Any] = {
        "resourceType": kind,
        "id": fhir_id,
        "status": status or ("completed" if kind == "MedicationDispense" else "active"),
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": name}],
            "text": name,
        },
    }
    dosage = [{"timing": timing or {"code": {"coding": [{"code": "BID"}]}}}]
    if kind == "MedicationRequest":
        resource["authoredOn"] = when.isoformat()
        resource["dosageInstruction"] = dosage
    elif kind == "MedicationDispense":
        resource["whenHandedOver"] = when.isoformat()
        resource["daysSupply"] = {"value": days_supply or 30, "unit": "d"}
        resource["quantity"] = {"value": 2 * (days_supply or 30)}
    else:
        resource["dateAsserted"] = when.isoformat()
        resource["dosage"] = dosage
    return resource


def add_resources(rt: Runtime, patient_id: str, *resources: dict[str, Any]) -> None:
    """Put resources in the record as the importer would (indexed row + code rows)."""
    with rt.transaction() as session:
        for resource in resources:
            when = (
                resource.get("authoredOn")
                or resource.get("whenHandedOver")
                or resource.get("dateAsserted")
            )
            session.merge(
                FhirResource(
                    resource_type=resource["resourceType"],
                    fhir_id=resource["id"],
                    patient_id=patient_id,
                    status=resource.get("status"),
                    effective_start=datetime.fromisoformat(when) if when else None,
                    # as records.store writes them
                    codes=f"{RXNORM}|{resource['medicationCodeableConcept']['coding'][0]['code']}",
                    supported=True,
                    resource=resource,
                    imported_at=rt.clock.now(),
                )
            )


def deliver(rt: Runtime) -> FakeChannel:
    """The worker sends what is queued through a fake SMS provider (the outside world)."""
    sms = FakeChannel(ChannelKind.SMS)
    registry = ChannelRegistry(
        {
            ChannelKind.SMS: sms,
            ChannelKind.EMAIL: FakeChannel(ChannelKind.EMAIL),
            ChannelKind.VOICE: FakeChannel(ChannelKind.VOICE),
            ChannelKind.PORTAL: PortalChannel(inbox=InMemoryPortalInbox()),
        }
    )
    worker = build_worker(rt, worker_id="test-worker", channels=registry)
    worker.sleep = lambda _s: None  # type: ignore[method-assign]
    worker.run_once()
    return sms


def text_back(rt: Runtime, body: str, n: int) -> str:
    """The patient's text from her phone, through the reply router as the webhook hands it
    over; what it was handled as."""
    message = InboundMessage(
        channel=ChannelKind.SMS,
        sender="+15550100001",
        recipient="+15550009999",
        body=body,
        provider_id=f"SM-in-{n}",
        received_at=rt.clock.now(),
        keyword=parse_reply(body).keyword,
    )
    with rt.transaction() as session:
        return handle_reply(session, ctx=inbound_context(rt), message=message).handled_as
