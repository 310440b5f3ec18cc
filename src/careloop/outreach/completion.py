"""Has the call to action been done? Re-checked before each step and for the holdout too.

A program's completion codes (``system|code`` or a bare code) are looked up in the record:
a resource carrying one, dated on or after enrollment, completes the enrollment. Replies
that confirm (C/Y) complete confirmation journeys at once (see ``inbound``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.clock import ensure_utc
from careloop.records.service import load_patient_resources

_CODE_FIELDS = ("code", "vaccineCode", "type", "serviceType", "category")
_DATE_FIELDS = (
    "effectiveDateTime",
    "performedDateTime",
    "occurrenceDateTime",
    "issued",
    "recorded",
    "authoredOn",
    "date",
)
_PERIOD_FIELDS = ("effectivePeriod", "performedPeriod", "period")


def _codes(resource: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    for name in _CODE_FIELDS:
        value = resource.get(name)
        concepts = value if isinstance(value, list) else [value]
        for concept in concepts:
            if not isinstance(concept, dict):
                continue
            for coding in concept.get("coding") or []:
                if isinstance(coding, dict) and coding.get("code"):
                    out.add(str(coding["code"]))
                    out.add(f"{coding.get('system', '')}|{coding['code']}")
    return out


def resource_date(resource: Mapping[str, Any]) -> datetime | None:
    candidates: list[object] = [resource.get(f) for f in _DATE_FIELDS]
    candidates += [(resource.get(p) or {}).get("start") for p in _PERIOD_FIELDS]
    for value in candidates:
        if isinstance(value, str) and value:
            text = value.replace("Z", "+00:00")
            if len(text) == 10:
                text += "T00:00:00+00:00"
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                continue
            return ensure_utc(moment) if moment.tzinfo else None
    return None


def completed_by_record(
    resources: Iterable[Mapping[str, Any]], *, codes: frozenset[str], since: datetime
) -> bool:
    """Pure: does any resource carry a completion code, dated on or after ``since``?"""
    day = ensure_utc(since).replace(hour=0, minute=0, second=0, microsecond=0)
    for resource in resources:
        if not (_codes(resource) & codes):
            continue
        when = resource_date(resource)
        if when is not None and when >= day:
            return True
    return False


def completed_patients(
    session: Session,
    *,
    codes: frozenset[str],
    enrolled_at: Mapping[str, datetime],
) -> set[str]:
    """Patients (of ``enrolled_at``) whose record shows the call to action done since enrolling."""
    if not codes or not enrolled_at:
        return set()
    bare = frozenset(c.rsplit("|", 1)[-1] for c in codes)
    ids: Sequence[str] = sorted(enrolled_at)
    done: set[str] = set()
    for pid, resources in load_patient_resources(
        session, patient_ids=list(ids), only_codes=bare, always_types=()
    ):
        if completed_by_record(resources, codes=codes, since=enrolled_at[pid]):
            done.add(pid)
    return done
