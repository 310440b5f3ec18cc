"""Imported FHIR R4 ``Consent`` resources, turned into consent records.

A Consent's ``provision`` (``type`` permit/deny, ``purpose`` codings, ``period``, nested
provisions as exceptions) maps to careloop purposes through the HL7 v3 ActReason codes
below or careloop's own code system; the channel comes from the extension
``CHANNEL_EXTENSION`` (absent = every channel). Syncing is idempotent: each Consent's
records are replaced, and a Consent no longer ``active`` leaves none behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.fhirdata import dates
from careloop.fielddicts import field_dict
from careloop.governance.consent import (
    ANY,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    ConsentStatus,
    forget_fhir_consent,
    record_consent,
)
from careloop.records import service as records

PURPOSE_SYSTEM = "https://careloop.dev/fhir/CodeSystem/consent-purpose"
CHANNEL_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/consent-channel"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

_ACT_REASON_PURPOSES: dict[str, tuple[ConsentPurpose, ...]] = {
    "HMARKT": (ConsentPurpose.MARKETING,),
    "HRESCH": (ConsentPurpose.RESEARCH,),
    "CLINTRCH": (ConsentPurpose.RESEARCH,),
    "TREAT": (ConsentPurpose.CARE_REMINDERS, ConsentPurpose.CLINICAL_MONITORING),
    "HOPERAT": (ConsentPurpose.SURVEYS,),
    "PATRQT": tuple(ConsentPurpose),
}


@dataclass
class ConsentSyncSummary:
    consents: int = 0
    records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return field_dict(self)


def _purposes(provision: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for coding in provision.get("purpose") or []:
        if not isinstance(coding, dict):
            continue
        if coding.get("system") == PURPOSE_SYSTEM and coding.get("code") in set(ConsentPurpose):
            found.append(str(coding["code"]))
        elif coding.get("system") == ACT_REASON:
            found.extend(str(p) for p in _ACT_REASON_PURPOSES.get(str(coding.get("code")), ()))
    return list(dict.fromkeys(found))


def _channels(provision: dict[str, Any]) -> list[str]:
    channels = [
        str(ext.get("valueCode"))
        for ext in provision.get("extension") or []
        if isinstance(ext, dict)
        and ext.get("url") == CHANNEL_EXTENSION
        and ext.get("valueCode") in set(ConsentChannel)
    ]
    return channels or [ANY]


def _when(resource: dict[str, Any], provision: dict[str, Any], fallback: datetime) -> datetime:
    period = provision.get("period") if isinstance(provision.get("period"), dict) else {}
    for value in ((period or {}).get("start"), resource.get("dateTime")):
        moment = dates.instant(value)
        if moment is not None:
            return moment
    return fallback


def _walk(
    provision: dict[str, Any], inherited: str | None
) -> list[tuple[dict[str, Any], str, list[str]]]:
    """(provision, permit/deny, purposes) for the provision and its nested exceptions."""
    kind = provision.get("type") or inherited or "permit"
    out = []
    purposes = _purposes(provision)
    if purposes:
        out.append((provision, str(kind), purposes))
    for nested in provision.get("provision") or []:
        if isinstance(nested, dict):
            opposite = "deny" if kind == "permit" else "permit"
            out.extend(_walk(nested, nested.get("type") or opposite))
    return out


def sync_fhir_consents(
    session: Session,
    *,
    now: datetime,
    actor: str,
    patient_ids: list[str] | None = None,
) -> ConsentSyncSummary:
    """Rebuild consent records from the stored ``Consent`` resources (all, or some patients)."""
    summary = ConsentSyncSummary()
    for patient_id, resource in records.resources_of_type(
        session, resource_type="Consent", patient_ids=patient_ids
    ):
        consent_id = str(resource.get("id") or "")
        summary.consents += 1
        if not consent_id:
            summary.skip("no id")
            continue
        forget_fhir_consent(session, fhir_consent_id=consent_id)
        if patient_id is None:
            summary.skip("patient not imported")
            continue
        if resource.get("status") != "active":
            summary.skip(f"status {resource.get('status')}")
            continue
        provision = resource.get("provision")
        if not isinstance(provision, dict):
            summary.skip("no provision")
            continue
        entries = _walk(provision, None)
        if not entries:
            summary.skip("no purpose careloop knows")
            continue
        for part, kind, purposes in entries:
            recorded = _when(resource, part, now)
            for purpose in purposes:
                for channel in _channels(part):
                    record_consent(
                        session,
                        patient_id=patient_id,
                        purpose=purpose,
                        channel=channel,
                        status=ConsentStatus.DENIED if kind == "deny" else ConsentStatus.GRANTED,
                        source=ConsentSource.FHIR_CONSENT,
                        actor=actor,
                        now=recorded,
                        fhir_consent_id=consent_id,
                    )
                    summary.records += 1
    return summary


def as_fhir_consent(
    *, patient_id: str, purpose: str, channel: str, status: str, recorded_at: datetime, id_: str
) -> dict[str, Any]:
    """A consent record as a FHIR R4 ``Consent`` (for patient data export)."""
    provision: dict[str, Any] = {"type": "deny" if status == ConsentStatus.DENIED else "permit"}
    if purpose != ANY:
        provision["purpose"] = [{"system": PURPOSE_SYSTEM, "code": purpose}]
    if channel != ANY:
        provision["extension"] = [{"url": CHANNEL_EXTENSION, "valueCode": channel}]
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": recorded_at.isoformat(),
        "provision": provision,
    }
