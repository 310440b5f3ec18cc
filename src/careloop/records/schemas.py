"""The patient record as the API and CLI show it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel


class ContactPoint(BaseModel):
    system: str
    value: str
    """Phones in E.164 (what gateways take)."""
    use: str | None = None
    rank: int | None = None
    display: str | None = None
    """The number as the record wrote it."""
    dialable: bool = True
    """False when the number could not be read: kept for display, never dialled."""
    line_type: str | None = None
    """What the line-type look-up said (``mobile``, ``landline``...): a landline is never
    texted. Absent without ``channels.lookup``."""


class AvailabilityWindow(BaseModel):
    days: list[str]
    start: str
    end: str


class CaregiverOut(BaseModel):
    id: str
    name: str | None
    relationship: str | None
    contact_points: list[ContactPoint]
    availability: list[AvailabilityWindow]
    availability_text: str
    is_proxy: bool


class Identifier(BaseModel):
    system: str
    value: str


class TimelineItem(BaseModel):
    resource_type: str
    id: str
    date: datetime | None
    end: datetime | None
    status: str | None
    code: str | None
    display: str | None


class PatientRecord(BaseModel):
    id: str
    identifiers: list[Identifier]
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    gender: str | None
    language: str | None
    # "interpreter needed" from Patient.communication: the language's name, else None
    interpreter: str | None = None
    timezone: str
    timezone_source: str
    deceased: bool
    deceased_at: datetime | None
    race: str | None
    ethnicity: str | None
    address: dict[str, Any] | None
    contact_points: list[ContactPoint]
    caregivers: list[CaregiverOut]
    sources: list[str]
    resource_counts: dict[str, int]
    timeline: list[TimelineItem]


class PatientSummary(BaseModel):
    id: str
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    gender: str | None
    deceased: bool
