"""Which phone numbers are landlines, by the optional line-type look-up, cached.

The record's ``use`` (``home``, ``mobile``) is the EHR's guess; a number it calls ``mobile``
may be a landline. With ``channels.lookup`` configured the importer asks the provider about
each number of the patients it touched, keeps the answer in ``phone_line_types`` (by keyed
digest, never the number) and writes it on the contact point as ``line_type``; the outbox's
address choice never texts a ``landline`` (``outreach.audience.address_for``). A number
asked within ``max_age`` is not asked again; a failed look-up leaves the number unknown
(texted by its ``use``, as without a look-up) and is asked again next time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.channels.errors import ChannelError
from careloop.channels.twilio_lookup import LineTypeLookup
from careloop.fielddicts import field_dict
from careloop.models import Patient, PhoneLineType
from careloop.records.contacts import digest
from careloop.records.contacts_phone import PHONE_SYSTEMS


@dataclass
class LineTypeReport:
    looked_up: int = 0
    cached: int = 0
    failed: int = 0
    types: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return field_dict(self, types=dict(sorted(self.types.items())))


def classify_phone_lines(
    session: Session,
    *,
    patient_ids: Iterable[str],
    lookup: LineTypeLookup,
    now: datetime,
    max_age: timedelta,
) -> LineTypeReport:
    """Write each phone's ``line_type`` on the patients' contact points (flushes only)."""
    report = LineTypeReport()
    patients = session.scalars(select(Patient).where(Patient.id.in_(sorted(set(patient_ids)))))
    for patient in patients:
        points = [dict(p) for p in patient.contact_points or []]
        changed = False
        for point in points:
            if point.get("system") not in PHONE_SYSTEMS or point.get("dialable") is False:
                continue
            kind = _line_type(session, str(point["value"]), lookup, now, max_age, report)
            if kind is _FAILED:
                continue
            report.types[kind or "unknown"] = report.types.get(kind or "unknown", 0) + 1
            if point.get("line_type") != kind:
                changed = True
                if kind is None:
                    point.pop("line_type", None)
                else:
                    point["line_type"] = kind
        if changed:
            patient.contact_points = points
    session.flush()
    return report


_FAILED = "\0failed"


def _line_type(
    session: Session,
    number: str,
    lookup: LineTypeLookup,
    now: datetime,
    max_age: timedelta,
    report: LineTypeReport,
) -> str | None:
    key = digest("phone", number)
    if key is None:
        return _FAILED
    row = session.get(PhoneLineType, key)
    if row is not None and now - row.checked_at < max_age:
        report.cached += 1
        return row.line_type
    try:
        kind = lookup.line_type(number)
    except ChannelError:
        report.failed += 1
        return _FAILED
    report.looked_up += 1
    if row is None:
        session.add(PhoneLineType(digest=key, line_type=kind, checked_at=now))
    else:
        row.line_type, row.checked_at = kind, now
    return kind
