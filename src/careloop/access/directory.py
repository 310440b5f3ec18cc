"""Scheduling links for a patient new to the practice (issue 25, item 7): where they can book.

A patient who moved needs more than one offer at once: a primary-care provider who accepts new
patients, a mammogram at whichever of several locations suits them, a flu shot at a pharmacy
near home. Each need becomes one signed, expiring self-scheduling link (an offer of kind
``link``, opened at ``/portal/book/<token>`` like any other); link offers never replace each
other or the patient's texted offer, and a bare "1" by text never books from one.

What the directory says comes from the record, as the EHR or a provider directory exports it:

- **accepting new patients**: the Da Vinci PDex Plan-Net extension :data:`NEW_PATIENTS` on the
  Schedule's PractitionerRole, HealthcareService or Location (``acceptingPatients`` coded
  ``newpt``); anything else, or silence, is not an acceptance;
- **pharmacy**: a Location typed ``PHARM`` (HL7 v3 RoleCode);
- **near home**: great-circle distance from the geolocation extension of the patient's address
  to ``Location.position``, at most :data:`NEARBY_KM`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.access.finder import (
    Offer,
    SlotCandidate,
    distinct_times,
    first_per_key,
    rank_offers,
)
from careloop.access.offers import booking_url, offer_sent, open_offer
from careloop.access.patientday import patient_day
from careloop.access.slots import free_slots
from careloop.clock import Clock
from careloop.fhirdata.codings import codes, translations
from careloop.fhirdata.patients import geolocation
from careloop.fhirdata.references import typed_target_id as _ref
from careloop.models import AccessOffer, FhirResource
from careloop.outreach.config import outreach_settings
from careloop.outreach.requests import RequestedMessage, request_message
from careloop.records.resources import resources_by_id as _load
from careloop.settings import Settings

NEW_PATIENTS = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/newpatients"
PHARMACY = "PHARM"
NEARBY_KM = 15.0
LINK_DAYS = 30
LINK_MESSAGE = "scheduling_link"
LINK_CHANNELS = ("sms", "email", "portal")  # the point is the link: never a phone call
Rule = Literal["new-patients", "locations", "pharmacy-nearby", "best-times"]


@dataclass(frozen=True, slots=True)
class LinkNeed:
    """One thing to book: a service code and the rule that picks where."""

    name: str
    service: str
    rule: Rule
    choices: int = 3


@dataclass(frozen=True, slots=True)
class Place:
    """Where a slot is, as the directory describes it."""

    location_id: str | None
    name: str | None
    service: str | None
    """What the slot is for, as the directory names it (serviceType text or display)."""
    pharmacy: bool
    accepting_new_patients: bool
    position: tuple[float, float] | None
    declines_new_patients: bool = False
    service_names: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    """``service`` in other languages (language tag → name), from the directory's FHIR
    ``translation`` extensions."""

    def service_in(self, language: str | None) -> str | None:
        """The service's name in ``language`` (or its primary subtag, ``es`` for ``es-MX``),
        else as the directory names it: a name in the wrong language beats no name."""
        if language:
            for tag in (language, language.split("-")[0]):
                if tag in self.service_names:
                    return self.service_names[tag]
        return self.service


@dataclass(frozen=True, slots=True)
class SchedulingLink:
    """A signed link to book one need, and the choices behind it (slot, start, place)."""

    need: str
    offer_id: str
    url: str
    expires_at: datetime
    choices: tuple[tuple[str, datetime, str | None], ...]


def _accepting(resource: dict[str, Any] | None) -> set[str] | None:
    """The codes of the Plan-Net new-patients extension; None when the resource is silent."""
    for ext in (resource or {}).get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == NEW_PATIENTS:
            for sub in ext.get("extension") or []:
                if isinstance(sub, dict) and sub.get("url") == "acceptingPatients":
                    return set(codes(sub.get("valueCodeableConcept")))
    return None


def accepts_new_patients(resource: dict[str, Any] | None) -> bool:
    """True only when the resource says ``newpt`` in the Plan-Net new-patients extension."""
    return "newpt" in (_accepting(resource) or set())


def declines_new_patients(resource: dict[str, Any] | None) -> bool:
    """True when the resource says anything but ``newpt`` there (``nopt``: full)."""
    found = _accepting(resource)
    return found is not None and "newpt" not in found


def offered_in_portal(place: Place, home: tuple[float, float] | None) -> bool:
    """Whether a time there may go on the portal's general list: not at a practice that
    takes no new patients, nor at a pharmacy farther than :data:`NEARBY_KM` from home."""
    if place.declines_new_patients:
        return False
    far = place.pharmacy and place.position and home and km_between(home, place.position)
    return not (far and far > NEARBY_KM)


def _position(resource: dict[str, Any] | None) -> tuple[float, float] | None:
    position = (resource or {}).get("position") or {}
    lat, lng = position.get("latitude"), position.get("longitude")
    if isinstance(lat, int | float) and isinstance(lng, int | float):
        return float(lat), float(lng)
    return None


def home_of(session: Session, *, patient_id: str) -> tuple[float, float] | None:
    """The newest geolocated home address among the person's Patient resources (the record's
    derived address keeps no coordinates)."""
    patients = session.scalars(
        select(FhirResource.resource)
        .where(FhirResource.resource_type == "Patient", FhirResource.patient_id == patient_id)
        .order_by(FhirResource.imported_at.desc())
    )
    for patient in patients:
        for address in patient.get("address") or []:
            if isinstance(address, dict) and address.get("use") in (None, "home"):
                found = geolocation(address)
                if found is not None:
                    return found
    return None


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371 km)."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _service_name(resource: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The first name of the resource's service type, with its translations."""
    for concept in resource.get("serviceType") or []:
        if isinstance(concept, dict):
            inner = (concept.get("concept") if "concept" in concept else concept) or {}  # R5/R4
            named = [(inner, "text"), *((c, "display") for c in inner.get("coding") or [])]
            for holder, key in named:
                text = holder.get(key) if isinstance(holder, dict) else None
                if isinstance(text, str) and text:
                    return text, translations(holder, key)
    return None


def places_of(session: Session, slot_ids: Sequence[str]) -> dict[str, Place]:
    """Slot id → its place: the Schedule's Location (or its role's or service's first one)."""
    slots = _load(session, "Slot", slot_ids)
    schedules = _load(
        session, "Schedule", (_ref(s.get("schedule"), "Schedule") for s in slots.values())
    )
    actors = [a for s in schedules.values() for a in s.get("actor") or []]
    roles = _load(session, "PractitionerRole", (_ref(a, "PractitionerRole") for a in actors))
    services = _load(session, "HealthcareService", (_ref(a, "HealthcareService") for a in actors))
    located = [*actors, *(loc for r in [*roles.values(), *services.values()]
                           for loc in r.get("location") or [])]  # fmt: skip
    locations = _load(session, "Location", (_ref(a, "Location") for a in located))
    places: dict[str, Place] = {}
    for slot_id, slot in slots.items():
        schedule = schedules.get(_ref(slot.get("schedule"), "Schedule") or "", {})
        own = schedule.get("actor") or []
        holders = [*(roles.get(_ref(a, "PractitionerRole") or "") for a in own),
                   *(services.get(_ref(a, "HealthcareService") or "") for a in own)]  # fmt: skip
        where = [_ref(a, "Location") for a in own]
        where += [_ref(loc, "Location") for h in holders if h for loc in h.get("location") or []]
        location_id = next((w for w in where if w in locations), None)
        location = locations.get(location_id or "")
        service = _service_name(slot) or _service_name(schedule)
        places[slot_id] = Place(
            location_id=location_id,
            name=(location or {}).get("name"),
            service=service[0] if service else None,
            service_names=service[1] if service else {},
            pharmacy=PHARMACY in codes((location or {}).get("type")),
            accepting_new_patients=any(accepts_new_patients(h) for h in [*holders, location]),
            position=_position(location),
            declines_new_patients=any(declines_new_patients(h) for h in [*holders, location]),
        )
    return places


def where_label(
    place: Place | None, *, video: bool = False, language: str | None = None
) -> str | None:
    """``Mammography · South Clinic``: what is booked and where, as a visit is named on every
    page (the same hour at two places must never read alike); a video visit has no place.
    The service in ``language`` where the directory has it (:meth:`Place.service_in`)."""
    if place is None:
        return None
    service = place.service_in(language)
    names = (service,) if video else (service, place.name)
    return " · ".join(name for name in names if name) or None


def visit_labels(
    session: Session, visits: Sequence[tuple[str, str, str]], *, language: str | None = None
) -> dict[str, str]:
    """``(key, slot id, mode)`` → key: :func:`where_label` of the slot, for the visits whose
    service or place is known (a ``telehealth`` one names only its service)."""
    places = places_of(session, [slot for _, slot, _ in visits])
    labels = {}
    for key, slot, mode in visits:
        if label := where_label(places.get(slot), video=mode == "telehealth", language=language):
            labels[key] = label
    return labels


def _pick(
    need: LinkNeed, ranked: list[Offer], places: dict[str, Place], home: tuple[float, float] | None
) -> list[Offer]:
    """The need's rule over the finder's ranking (best first)."""
    if need.rule == "new-patients":
        return [o for o in ranked if places[o.slot].accepting_new_patients][: need.choices]
    if need.rule == "best-times":  # a patient of the practice: the times that fit her day best
        return distinct_times(ranked)[: need.choices]
    if need.rule == "pharmacy-nearby":
        if home is None:
            return []
        near = [
            (km_between(home, position), o)
            for o in ranked
            if places[o.slot].pharmacy and (position := places[o.slot].position) is not None
        ]
        near = [(km, o) for km, o in near if km <= NEARBY_KM]
        return [o for _, o in sorted(near, key=lambda pair: pair[0])][: need.choices]
    # The best time at each location, so every location is a choice.
    per_place = first_per_key(ranked, lambda offer: places[offer.slot].location_id)
    return per_place[: need.choices]


def scheduling_links(
    session: Session,
    *,
    patient_id: str,
    needs: Sequence[LinkNeed],
    now: datetime,
    settings: Settings,
) -> list[SchedulingLink]:
    """One signed link per need that has a fitting slot in the next :data:`LINK_DAYS` days."""
    day = patient_day(session, patient_id=patient_id, now=now)
    zone = ZoneInfo(day.timezone)
    start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    home = home_of(session, patient_id=patient_id)
    links = []
    for need in needs:
        slots: list[SlotCandidate] = free_slots(
            session, start=start, end=start + timedelta(days=LINK_DAYS), service=need.service
        )
        ranked = rank_offers(slots, day, now=now, limit=len(slots) or 1)
        places = places_of(session, [o.slot for o in ranked])
        chosen = _pick(need, ranked, places, home)
        if not chosen:
            continue
        row = open_offer(
            session, offers=chosen, patient_id=patient_id, now=now, kind="link",
            service=need.service, replace_open=False, hours=LINK_DAYS * 24,
        )  # fmt: skip
        url = booking_url(settings, row.id)
        choices = tuple((o.slot, o.start, places[o.slot].name) for o in chosen)
        links.append(SchedulingLink(need.name, row.id, url, row.expires_at, choices))
    return links


def send_scheduling_links(
    session: Session,
    *,
    patient_id: str,
    links: Sequence[SchedulingLink],
    clock: Clock,
    settings: Settings,
) -> dict[str, RequestedMessage]:
    """Send each link to the patient (need → what became of its message), once per link.

    A link nobody sends is a link nobody opens: each goes through outreach (consent, channel,
    quiet hours, the patient's language) as the ``scheduling_link`` message, never by phone.
    Each message names its link's places (``appointment_place``): three links in words alike
    would leave the patient guessing which one is the mammogram.
    """
    sent = {}
    default_place = outreach_settings(settings)[0].default_place
    for link in links:
        places = ", ".join(sorted({place for _, _, place in link.choices if place}))
        fields = {"booking_link": link.url, "appointment_place": places or default_place}
        sent[link.need] = request_message(
            session, patient_id=patient_id, message=LINK_MESSAGE, purpose="care-reminders",
            key=f"scheduling-link:{link.offer_id}", now=clock.now(), clock=clock,
            settings=settings, fields=fields, allowed_channels=LINK_CHANNELS,
        )  # fmt: skip
        row = session.get_one(AccessOffer, link.offer_id)
        offer_sent(session, row=row, outbox_id=sent[link.need].outbox_id, clock=clock)
    return sent
