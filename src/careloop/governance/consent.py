"""Consent per purpose and channel, asked before every send.

The history is append-only (:class:`~careloop.models.ConsentRecord`); the current answer is
derived from it by one rule, newest record first:

1. a denial that applies (same or ``*`` purpose, same or ``*`` channel) denies;
2. a grant for the purpose (any channel or this channel) allows;
3. a channel-wide grant (``*`` purpose: SMS START, email re-subscribe) only lifts older
   channel-wide denials: it never grants marketing or research by itself;
4. with no record, the default policy decides (``DEFAULTS``; see docs/security.md):
   care reminders and clinical monitoring are treatment communications (HIPAA TPO, the FCC's
   healthcare-message exemption for calls and texts), surveys are allowed where an
   unsubscribe is one click away (email, portal), research and marketing need an opt-in.

Whatever the records say, a deceased patient and a channel without a usable contact point are
refused, with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from careloop.channels.messages import ChannelKind
from careloop.clock import ensure_utc
from careloop.db import any_of, patient_rows
from careloop.errors import InvalidInput
from careloop.models import ConsentRecord
from careloop.records import service as records

ANY = "*"


class ConsentPurpose(StrEnum):
    CARE_REMINDERS = "care-reminders"
    CLINICAL_MONITORING = "clinical-monitoring"
    SURVEYS = "surveys"
    RESEARCH = "research"
    MARKETING = "marketing"


ConsentChannel = ChannelKind
"""Consent is given per channel the adapters send on: their list, not a copy of it."""


class ConsentSource(StrEnum):
    FORM = "form"
    SMS_KEYWORD = "sms-keyword"
    PORTAL = "portal"
    FHIR_CONSENT = "fhir-consent"
    STAFF = "staff"
    EMAIL_LINK = "email-link"
    CARRIER = "carrier"
    """The carrier refused a text because the number opted out there (Twilio 21610)."""


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"


# Default when no record applies: (purpose, channel) -> allowed.
DEFAULTS: dict[ConsentPurpose, frozenset[ConsentChannel]] = {
    ConsentPurpose.CARE_REMINDERS: frozenset(ConsentChannel),
    ConsentPurpose.CLINICAL_MONITORING: frozenset(ConsentChannel),
    ConsentPurpose.SURVEYS: frozenset({ConsentChannel.EMAIL, ConsentChannel.PORTAL}),
    ConsentPurpose.RESEARCH: frozenset(),
    ConsentPurpose.MARKETING: frozenset(),
}

# The contact-point systems (FHIR ContactPoint.system) each channel needs.
_CHANNEL_SYSTEMS: dict[ConsentChannel, frozenset[str]] = {
    ConsentChannel.SMS: frozenset({"phone", "sms"}),
    ConsentChannel.VOICE: frozenset({"phone"}),
    ConsentChannel.EMAIL: frozenset({"email"}),
}


class ConsentBasis(StrEnum):
    """What a decision rests on, for pages that word it (``reason`` is for staff logs)."""

    RECORD = "record"
    """The patient's own opt-in or opt-out (``record_id``)."""
    POLICY = "policy"
    """No record applies: the purpose's default allows it or needs an opt-in."""
    NO_CONTACT_POINT = "no-contact-point"
    DECEASED = "deceased"
    NO_PATIENT = "no-patient"


@dataclass(frozen=True)
class ConsentDecision:
    """May we contact this patient for this purpose on this channel, and why (or why not)."""

    allowed: bool
    reason: str
    record_id: int | None = None
    basis: ConsentBasis = ConsentBasis.RECORD


_STATUS_REFUSAL = "status must be granted or denied"


def _member(kind: type[StrEnum], value: str, *, field: str, refusal: str | None = None) -> str:
    """``value`` as one of ``kind``'s values, or InvalidInput naming ``field``."""
    try:
        return str(kind(value))
    except ValueError as exc:
        allowed = [m.value for m in kind]
        raise InvalidInput(refusal or f"{field} must be one of {allowed}", field=field) from exc


def parse_purpose(value: str, *, allow_any: bool = False) -> str:
    if allow_any and value == ANY:
        return ANY
    return _member(ConsentPurpose, value, field="purpose")


def parse_channel(value: str, *, allow_any: bool = False) -> str:
    if allow_any and value == ANY:
        return ANY
    return _member(ConsentChannel, value, field="channel")


def record_consent(
    session: Session,
    *,
    patient_id: str,
    purpose: str,
    channel: str,
    status: str,
    source: str,
    actor: str,
    now: datetime,
    note: str | None = None,
    fhir_consent_id: str | None = None,
) -> ConsentRecord:
    """Append one grant or denial; ``purpose``/``channel`` may be ``*``."""
    row = ConsentRecord(
        patient_id=patient_id,
        purpose=parse_purpose(purpose, allow_any=True),
        channel=parse_channel(channel, allow_any=True),
        status=_member(ConsentStatus, status, field="status", refusal=_STATUS_REFUSAL),
        source=_member(ConsentSource, source, field="source"),
        recorded_at=ensure_utc(now),
        recorded_by=actor,
        note=(note or None) and note[:500],
        fhir_consent_id=fhir_consent_id,
    )
    session.add(row)
    session.flush()
    return row


class ChannelWideChange(TypedDict):
    """Who stops (or restarts) everything on one channel, how, and when."""

    patient_id: str
    channel: str
    source: str
    actor: str
    now: datetime
    note: NotRequired[str | None]


def opt_out_channel(session: Session, **change: Unpack[ChannelWideChange]) -> ConsentRecord:
    """Stop everything on one channel at once (SMS STOP, email "unsubscribe from all")."""
    return record_consent(session, purpose=ANY, status=ConsentStatus.DENIED, **change)


def opt_in_channel(session: Session, **change: Unpack[ChannelWideChange]) -> ConsentRecord:
    """Lift a channel-wide opt-out (SMS START). Grants nothing that needs an opt-in."""
    return record_consent(session, purpose=ANY, status=ConsentStatus.GRANTED, **change)


def _usable(channel: ConsentChannel, points: list[dict[str, Any]]) -> bool:
    systems = _CHANNEL_SYSTEMS.get(channel)
    if systems is None:  # the portal inbox needs no contact point
        return True
    return any(cp.get("system") in systems and cp.get("value") for cp in points)


def _decide(
    *,
    purpose: ConsentPurpose,
    channel: ConsentChannel,
    history: Sequence[ConsentRecord],
    now: datetime,
) -> ConsentDecision:
    applicable = sorted(
        (
            r
            for r in history
            if r.purpose in (purpose, ANY) and r.channel in (channel, ANY) and r.recorded_at <= now
        ),
        key=lambda r: (r.recorded_at, r.id),
        reverse=True,
    )
    lifted = False
    for record in applicable:
        wide = record.purpose == ANY
        if record.status == ConsentStatus.DENIED:
            if wide and lifted:
                continue
            scope = f"all {record.channel} messages" if wide else f"{purpose} on {record.channel}"
            return ConsentDecision(
                False, f"opted out of {scope} ({record.source})", record_id=record.id
            )
        if wide:
            lifted = True
            continue
        return ConsentDecision(True, f"opted in ({record.source})", record_id=record.id)
    return _by_default(purpose, channel)


@lru_cache(maxsize=64)
def _by_default(purpose: ConsentPurpose, channel: ConsentChannel) -> ConsentDecision:
    """The policy's answer where no record applies: one (frozen) decision per purpose and
    channel, shared by every patient without a consent record (most, in a night)."""
    if channel in DEFAULTS[purpose]:
        return ConsentDecision(
            True, f"default policy allows {purpose} on {channel}", basis=ConsentBasis.POLICY
        )
    return ConsentDecision(
        False, f"{purpose} on {channel} needs an explicit opt-in", basis=ConsentBasis.POLICY
    )


@lru_cache(maxsize=16)
def _unusable(channel: ConsentChannel) -> ConsentDecision:
    return ConsentDecision(
        False, f"no contact point usable for {channel}", basis=ConsentBasis.NO_CONTACT_POINT
    )


def consent_decisions(
    session: Session,
    *,
    patient_ids: Iterable[str],
    purpose: str,
    channel: str,
    now: datetime,
    batch: int = 1000,
) -> dict[str, ConsentDecision]:
    """The decision for many patients: two queries per batch, for whole populations."""
    return consent_decisions_by_channel(
        session, patient_ids=patient_ids, purpose=purpose, channels=[channel], now=now, batch=batch
    )[str(ConsentChannel(parse_channel(channel)))]


def consent_decisions_by_channel(
    session: Session,
    *,
    patient_ids: Iterable[str],
    purpose: str,
    channels: Iterable[str],
    now: datetime,
    batch: int = 1000,
    known: Mapping[str, tuple[ContactSnapshot, Sequence[ConsentRecord]]] | None = None,
) -> dict[str, dict[str, ConsentDecision]]:
    """Per channel, the decision for many patients, from one read of their contact points
    and consent history (the nightly cycle asks about every channel for each batch: one
    read instead of one per channel); patients in ``known`` are not read again."""
    the_purpose = ConsentPurpose(parse_purpose(purpose))
    the_channels = [ConsentChannel(parse_channel(channel)) for channel in channels]
    now = ensure_utc(now)
    ids = list(dict.fromkeys(patient_ids))
    shared: ConsentReads | None = session.info.get(_SHARED_READS)
    known = known or shared or {}
    decisions: dict[str, dict[str, ConsentDecision]] = {str(c): {} for c in the_channels}
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        unread = [pid for pid in chunk if pid not in known]
        snapshot = {pid: known[pid][0] for pid in chunk if pid in known}
        history: dict[str, list[ConsentRecord]] = defaultdict(list)
        for pid in chunk:
            if pid in known:
                history[pid].extend(known[pid][1])
        if unread:
            snapshot.update(records.contact_snapshot(session, patient_ids=unread))
            for row in session.scalars(
                select(ConsentRecord).where(any_of(session, ConsentRecord.patient_id, unread))
            ):
                history[row.patient_id].append(row)
            if shared is not None:
                shared.update(
                    (pid, (snapshot[pid], history[pid])) for pid in unread if pid in snapshot
                )
        for the_channel in the_channels:
            by_patient = decisions[str(the_channel)]
            for pid in chunk:
                by_patient[pid] = _decision_for(
                    snapshot.get(pid),
                    history[pid],
                    purpose=the_purpose,
                    channel=the_channel,
                    now=now,
                )
    return decisions


def _decision_for(
    snapshot: tuple[bool, list[dict[str, Any]]] | None,
    history: Sequence[ConsentRecord],
    *,
    purpose: ConsentPurpose,
    channel: ConsentChannel,
    now: datetime,
) -> ConsentDecision:
    if snapshot is None:
        return ConsentDecision(False, "no such patient", basis=ConsentBasis.NO_PATIENT)
    deceased, points = snapshot
    if deceased:
        return ConsentDecision(False, "patient is deceased", basis=ConsentBasis.DECEASED)
    if history:
        decision = _decide(purpose=purpose, channel=channel, history=history, now=now)
    else:  # nothing to sort or scan: the policy's shared answer
        decision = _by_default(purpose, channel)
    if decision.allowed and not _usable(channel, points):
        return _unusable(channel)
    return decision


def consent_decision(
    session: Session, *, patient_id: str, purpose: str, channel: str, now: datetime
) -> ConsentDecision:
    """Ask before every send: may ``purpose`` go to this patient over ``channel`` at ``now``?"""
    return consent_decisions(
        session, patient_ids=[patient_id], purpose=purpose, channel=channel, now=now
    )[patient_id]


ContactSnapshot = tuple[bool, list[dict[str, Any]]]
"""(deceased, contact points) of one patient, as :func:`records.contact_snapshot` reads it."""
ConsentReads = dict[str, tuple[ContactSnapshot, Sequence[ConsentRecord]]]
"""Per patient: contact snapshot and consent history, as a decision reads them."""
_SHARED_READS = "careloop.governance.consent_reads"


def share_consent_reads(session: Session, reads: ConsentReads) -> None:
    """Let every consent decision in ``session`` read a patient's contact points and consent
    history once, into ``reads``, instead of once per call (a nightly slice asks for each of
    its programs' opt-outs, then for each batch's snapshots). Only for a transaction that
    records no consent and changes no contact point, as a nightly slice does not."""
    session.info[_SHARED_READS] = reads


def consent_matrix(
    session: Session,
    *,
    patient_id: str,
    now: datetime,
    snapshot: ContactSnapshot | None = None,
    history: Sequence[ConsentRecord] | None = None,
) -> dict[str, dict[str, ConsentDecision]]:
    """Every purpose x channel decision for one patient (for the console, portal and CLI);
    ``snapshot`` and ``history`` when the caller read them already (the patient view)."""
    now = ensure_utc(now)
    if snapshot is None:
        snapshot = records.contact_snapshot(session, patient_ids=[patient_id]).get(patient_id)
    if history is None:
        history = consent_history(session, patient_id=patient_id)
    return {
        str(purpose): {
            str(channel): _decision_for(
                snapshot, history, purpose=purpose, channel=channel, now=now
            )
            for channel in ConsentChannel
        }
        for purpose in ConsentPurpose
    }


def consent_history(session: Session, *, patient_id: str) -> list[ConsentRecord]:
    return patient_rows(
        session, ConsentRecord, patient_id, ConsentRecord.recorded_at, ConsentRecord.id
    )


def forget_fhir_consent(session: Session, *, fhir_consent_id: str) -> int:
    """Drop what an imported Consent said (it was replaced, withdrawn or entered in error)."""
    result = session.execute(
        delete(ConsentRecord).where(ConsentRecord.fhir_consent_id == fhir_consent_id)
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
