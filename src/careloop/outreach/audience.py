"""Who a message goes to and what the engine may know about them at decision time.

Builds the engine's :class:`PatientSnapshot` from the record (zone, language, contact
points), governance (consent per purpose and channel) and the outbox itself (recent contacts
across all programs, for the contact budget). Also picks the concrete address per channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.db import any_of
from careloop.governance.consent import (
    ConsentChannel,
    ContactSnapshot,
    consent_decisions_by_channel,
)
from careloop.governance.number_opt_outs import caregiver_stops, stopped_numbers
from careloop.models import Caregiver, ConsentRecord, OutboxMessage, Patient, PreferenceProfileRow
from careloop.outreach.budget import counts_as_contact
from careloop.outreach.config import OutreachSettings, care_team_for
from careloop.outreach.states import OutboxState
from careloop.personalize.profile import PreferenceProfile, QuietHours, StatedPreferences
from careloop.personalize.service import get_profiles
from careloop.personalize.snapshot import PatientSnapshot
from careloop.records.availability import is_available
from careloop.records.caregivers import caregivers_of
from careloop.records.contacts import find_patients_by_contact
from careloop.records.contacts_index import is_stale, reindex_if_stale
from careloop.records.contacts_phone import textable
from careloop.records.service import get_patient

_SYSTEMS: dict[str, tuple[str, ...]] = {
    "sms": ("sms", "phone"),
    "voice": ("phone",),
    "email": ("email",),
}
COUNTED_STATES = (
    OutboxState.QUEUED,
    OutboxState.SENDING,
    OutboxState.SENT,
    OutboxState.DELIVERED,
    OutboxState.FAILED_TRANSIENT,
)


def address_for(points: Sequence[dict[str, Any]], channel: str, *, patient_id: str) -> str | None:
    """The best contact point for ``channel`` (mobile first, then by rank). A text goes only
    to a number the records domain calls textable (``records.contacts_phone.textable``: never
    a home, work or old line, nor a looked-up landline); a number that could not be read is
    never dialled."""
    if channel == "portal":
        return patient_id
    systems = _SYSTEMS.get(channel, ())
    usable = [
        p
        for p in points
        if p.get("system") in systems and p.get("value") and p.get("dialable") is not False
    ]
    if channel == "sms":
        usable = [p for p in usable if textable(p)]
    usable.sort(key=lambda p: (0 if p.get("use") == "mobile" else 1, p.get("rank") or 99))
    return str(usable[0]["value"]) if usable else None


def patients_with_address(
    session: Session, *, channel: str, address: str, now: datetime
) -> list[str]:
    """Patients whose record holds this phone number or email (a STOP from a number we
    never texted, or texted long ago, must still find its patient).

    Contact points are encrypted at rest, so the records domain finds them by keyed digest.
    """

    if not _SYSTEMS.get(channel):
        return []
    system = "email" if channel == "email" else "phone"
    found = find_patients_by_contact(session, system=system, value=address)
    if not found and is_stale(session):
        # Another process (``careloop import`` run without this process's secret key) rebuilt
        # the look-up under its own key while we serve: rebuild it under ours and look again,
        # rather than take a STOP for an unknown sender's.
        reindex_if_stale(session, now=now)
        found = find_patients_by_contact(session, system=system, value=address)
    return found


# The greeting's name for a caregiver with none on file: "Hi there!", "¡Hola, familia!".
NAMELESS_CAREGIVER = {"en": "there", "es": "familia", "pt": "família", "zh": "家属"}


@dataclass(frozen=True, slots=True)
class Recipient:
    patient_id: str
    timezone: str
    language: str
    first_name: str | None
    addresses: dict[str, str]
    last_name: str | None = None
    kind: str = "patient"
    caregiver_id: str | None = None
    # A caregiver's own name (RelatedPerson.name): their own copies greet them by it.
    own_name: str | None = None

    @property
    def own_first_name(self) -> str:
        """Whom a caregiver's own copy greets: their first name, else a kind word (never
        the patient's name, which read as if it were theirs)."""
        first = (self.own_name or "").split(" ")[0]
        return first or NAMELESS_CAREGIVER.get(self.language.split("-")[0], "there")


def recipient_fields(settings: OutreachSettings, recipient: Recipient) -> dict[str, object]:
    """The fields any message may use: the clinic's phone, the care team's name in the
    recipient's language, the portal's links, and the recipient's name where known (the
    caller's own fields go over these)."""
    portal = settings.portal_link.rstrip("/")
    fields: dict[str, object] = {
        "clinic_phone": settings.clinic_phone,
        "care_team_name": care_team_for(settings, recipient.language),
        "portal_link": settings.portal_link,
        "checkin_link": f"{portal}/checkin",
        "readings_link": f"{portal}/readings",
    }
    if recipient.first_name:
        fields["first_name"] = recipient.first_name
    if recipient.last_name:
        fields["last_name"] = recipient.last_name
    return fields


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def patient_recipient(session: Session, *, patient_id: str) -> tuple[Patient, Recipient]:
    patient = get_patient(session, patient_id)
    return patient, recipient_of(patient)


def recipient_of(patient: Patient) -> Recipient:
    """The patient as the recipient of their own messages (addresses per channel)."""
    patient_id = patient.id
    points = list(patient.contact_points or [])
    addresses = {
        ch: addr
        for ch in ("sms", "voice", "email", "portal")
        if (addr := address_for(points, ch, patient_id=patient_id)) is not None
    }
    return Recipient(
        patient_id=patient_id,
        timezone=patient.timezone,
        language=patient.language or "en",
        first_name=patient.given_name,
        addresses=addresses,
        last_name=patient.family_name,
    )


def caregiver_recipients(
    session: Session, *, patient: Patient, now: datetime, only_available: bool = True
) -> list[Recipient]:
    """Caregivers of the patient reachable now (inside their availability windows). A number
    that replied STOP as a caregiver's is no address for texts or calls (never replaced by
    another: a copy then goes by email, or not at all)."""
    out: list[Recipient] = []
    reachable: list[tuple[Caregiver, dict[str, str]]] = []
    for caregiver in caregivers_of(session, patient_id=patient.id):
        if only_available and not caregiver_available(caregiver, zone=patient.timezone, now=now):
            continue
        points = list(caregiver.contact_points or [])
        addresses = {
            ch: addr
            for ch in ("sms", "voice", "email")
            if (addr := address_for(points, ch, patient_id=patient.id)) is not None
        }
        reachable.append((caregiver, addresses))
    # A number that said STOP, or a mailbox whose copy's unsubscribe link was used.
    known = {a for _, addresses in reachable for a in addresses.values()}
    stopped = stopped_numbers(session, known) if known else set()
    for caregiver, found in reachable:
        addresses = {ch: a for ch, a in found.items() if a not in stopped}
        if addresses:
            out.append(
                Recipient(
                    patient_id=patient.id,
                    timezone=patient.timezone,
                    language=patient.language or "en",
                    first_name=patient.given_name,
                    addresses=addresses,
                    last_name=patient.family_name,
                    kind="caregiver",
                    caregiver_id=caregiver.id,
                    own_name=caregiver.name,
                )
            )
    return out


def caregiver_available(caregiver: Caregiver, *, zone: str, now: datetime) -> bool:
    return is_available(list(caregiver.availability or []), now.astimezone(ZoneInfo(zone)))


def next_caregiver_window(caregiver: Caregiver, *, zone: str, now: datetime) -> datetime | None:
    """The first quarter-hour within a week when the caregiver is available (None: never)."""
    moment = now.replace(second=0, microsecond=0)
    for _ in range(7 * 24 * 4):
        if caregiver_available(caregiver, zone=zone, now=moment):
            return moment
        moment += timedelta(minutes=15)
    return None


def recent_contacts(
    session: Session, *, patient_ids: Sequence[str], since: datetime
) -> dict[str, list[datetime]]:
    """Send times (scheduled or done) per patient across every program, for the budget.

    Only what spends budget (:func:`careloop.outreach.budget.counts_as_contact`): answers
    within a conversation the patient is having (a check-in's next question, a STOP
    confirmation) are not contacts, or a weekly check-in would use up the week by itself."""
    rows = session.execute(
        select(OutboxMessage.patient_id, OutboxMessage.due_at, OutboxMessage.extra).where(
            any_of(session, OutboxMessage.patient_id, patient_ids),
            OutboxMessage.due_at >= since,
            OutboxMessage.state.in_([str(s) for s in COUNTED_STATES]),
            OutboxMessage.recipient_kind == "patient",
        )
    ).all()
    out: dict[str, list[datetime]] = {pid: [] for pid in patient_ids}
    for pid, due, extra in rows:
        if counts_as_contact(recipient_kind="patient", extra=extra):
            out[pid].append(due)
    return out


@dataclass(frozen=True)
class PatientReads:
    """What a page read already of one patient (its row, consent history and stored profile),
    so the engine's preview beside it reads none of them again."""

    patient: Patient
    consent: Sequence[ConsentRecord]
    profile: PreferenceProfileRow | None


@dataclass
class SliceReads:
    """Patient rows, consent histories, stored preferences and recipients read once for all
    the batches of a tick whose transaction writes none of them (a nightly slice: it neither
    learns nor records consent), instead of once per program; each batch reads only the
    patients no earlier batch read. Consent *decisions* are still made per batch (purposes
    differ), and recent contacts still read per batch (earlier batches' sends count)."""

    patients: dict[str, Patient] = field(default_factory=dict)
    consent: dict[str, tuple[ContactSnapshot, Sequence[ConsentRecord]]] = field(
        default_factory=dict
    )
    profiles: dict[str, PreferenceProfile] = field(default_factory=dict)
    recipients: dict[str, Recipient] = field(default_factory=dict)

    def load(self, session: Session, *, patient_ids: Sequence[str], batch: int = 1000) -> None:
        """Read the patients of ``patient_ids`` not read yet (a missing one stays unread)."""
        unread = [pid for pid in dict.fromkeys(patient_ids) if pid not in self.patients]
        for start in range(0, len(unread), batch):
            chunk = unread[start : start + batch]
            found = {
                p.id: p
                for p in session.scalars(select(Patient).where(any_of(session, Patient.id, chunk)))
            }
            unknown = [pid for pid in chunk if pid not in self.consent]  # opt-outs read some
            history: dict[str, list[ConsentRecord]] = {pid: [] for pid in unknown}
            if unknown:
                for row in session.scalars(
                    select(ConsentRecord).where(any_of(session, ConsentRecord.patient_id, unknown))
                ):
                    history[row.patient_id].append(row)
            profiles = get_profiles(session, patient_ids=chunk)
            for pid, patient in found.items():
                self.patients[pid] = patient
                if pid in history:
                    points = list(patient.contact_points or [])
                    self.consent[pid] = ((bool(patient.deceased), points), history[pid])
                self.profiles[pid] = profiles[pid]


def build_snapshots(
    session: Session,
    *,
    patient_ids: Sequence[str],
    purpose: str,
    now: datetime,
    budget_period: timedelta,
    known: PatientReads | None = None,
    reads: SliceReads | None = None,
) -> tuple[list[PatientSnapshot], dict[str, Recipient]]:
    """Snapshots for the engine and the recipients to address, for a batch of patients
    (``known``: one of them as the caller read it already; ``reads``: what earlier batches
    of the same tick read, kept for the later ones)."""
    allowed: dict[str, set[str]] = {pid: set() for pid in patient_ids}
    found: dict[str, Patient] = {}
    rows: dict[str, PreferenceProfileRow] | None = None
    consents: Mapping[str, tuple[ContactSnapshot, Sequence[ConsentRecord]]] = {}
    profiles: Mapping[str, PreferenceProfile] | None = None
    cached: dict[str, Recipient] = {}
    if reads is not None:
        reads.load(session, patient_ids=patient_ids)
        found, consents, profiles, cached = (
            reads.patients, reads.consent, reads.profiles, reads.recipients
        )  # fmt: skip
    elif known is not None and list(patient_ids) == [known.patient.id]:
        patient = known.patient
        found[patient.id] = patient
        rows = {patient.id: known.profile} if known.profile is not None else {}
        consents = {patient.id: ((patient.deceased, list(patient.contact_points)), known.consent)}
    by_channel = consent_decisions_by_channel(
        session,
        patient_ids=patient_ids,
        purpose=purpose,
        channels=[str(channel) for channel in ConsentChannel],
        now=now,
        known=consents,
    )
    for channel, decisions in by_channel.items():
        for pid, decision in decisions.items():
            if decision.allowed:
                allowed[pid].add(channel)
    recent = recent_contacts(session, patient_ids=patient_ids, since=now - budget_period)
    snapshots: list[PatientSnapshot] = []
    recipients: dict[str, Recipient] = {}
    if profiles is None:
        profiles = get_profiles(session, patient_ids=patient_ids, rows=rows)
    if not found:  # the batch's patients in one query, not one each
        found = {
            p.id: p
            for p in session.scalars(
                select(Patient).where(any_of(session, Patient.id, patient_ids))
            )
        }
    for pid in patient_ids:
        patient = found.get(pid) or get_patient(session, pid)  # a missing one: NotFound
        stated = profiles[pid].stated
        recipient = cached.get(pid) or _recipient(session, patient, stated=stated, now=now)
        cached[pid] = recipients[pid] = recipient
        sex = (patient.gender or "").lower()
        addresses = recipient.addresses
        snapshots.append(
            PatientSnapshot(
                patient_id=pid,
                timezone=patient.timezone,
                language=stated.language or patient.language or "en",
                consented_channels={purpose: frozenset(allowed[pid])},
                contact_channels=frozenset(addresses),
                covariates={
                    "age": _age(patient.birth_date, now.date()),
                    "sex": sex,
                    "language": patient.language or "en",
                    "has_mobile": "sms" in addresses,
                    "has_email": "email" in addresses,
                    "has_portal": "portal" in addresses,
                },
                stated=stated,
                deceased=patient.deceased,
                recent_contacts=tuple(recent.get(pid, [])),
                pronoun="she"
                if sex in {"female", "f"}
                else "he"
                if sex in {"male", "m"}
                else "they",
            )
        )
    return snapshots, recipients


def _recipient(
    session: Session, patient: Patient, *, stated: StatedPreferences, now: datetime
) -> Recipient:
    """Whom the patient's messages go to: the patient, or the first caregiver the patient
    named as contact. The patient reads the language they chose (the engine's), else the
    record's: the care team's name in their fields must be in the words of their message."""
    own = recipient_of(patient)
    if stated.language:
        own = replace(own, language=stated.language)
    if stated.caregiver_as_contact:
        carers = caregiver_recipients(session, patient=patient, now=now, only_available=False)
        if carers:
            return carers[0]
        named = caregivers_of(session, patient_id=patient.id)
        if caregiver_stops(session, [(c.id, list(c.contact_points or [])) for c in named]):
            # The contact the patient named replied STOP: her messages stop with it (the care
            # team's task asks whom to write to), never rerouted to a phone she did not choose.
            return replace(own, addresses={})
    return own


def caregiver_send_time(caregiver: Caregiver, *, zone: str, start: datetime) -> datetime | None:
    """The first moment at or after ``start`` inside the caregiver's windows and outside
    default quiet hours (21:00-08:00 in the patient's zone)."""
    quiet = QuietHours()
    moment: datetime | None = start
    for _ in range(8):
        moment = next_caregiver_window(caregiver, zone=zone, now=moment) if moment else None
        if moment is None:
            return None
        local = moment.astimezone(ZoneInfo(zone))
        if not quiet.contains(local.hour * 60 + local.minute):
            return moment
        moment += timedelta(hours=1)
    return None


ESCORT_LEAD = timedelta(hours=1)
"""A caregiver who drives hears of the visit at least this long before it starts."""


def escort_send_time(
    caregiver: Caregiver, *, zone: str, start: datetime, visit_at: datetime | None
) -> datetime | None:
    """When the caregiver who comes along gets a visit reminder: in her window and early
    enough to arrange the drive (:data:`ESCORT_LEAD` before the visit). When her window opens
    too late, at ``start`` (the patient's own time, outside quiet hours) if that is early
    enough; otherwise not at all (she had the booking's confirmation and earlier reminders)."""
    at = caregiver_send_time(caregiver, zone=zone, start=start)
    if visit_at is None:
        return at
    cutoff = visit_at - ESCORT_LEAD
    if at is not None and at <= cutoff:
        return at
    return start if start <= cutoff else None
